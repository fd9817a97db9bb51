package io.megalith.core.finetune;

import io.megalith.core.tensor.CounterRng;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Speaker classification on tinyshakespeare: the text is a sequence of speeches, each a "NAME:" line followed by
 * the lines spoken. The task: given one spoken line, predict who says it, among the {@code topK} speakers with the
 * most lines. A seeded fraction of those lines is the test set; pre-training (masked LM, next-sentence
 * prediction) uses every other line of the play, never a test line.
 *
 * <p>Character-level ids: 0 [PAD], 1 [CLS], 2 [SEP], 3 [MASK], then 4 + the rank of each distinct character.
 * A sequence is [CLS] line [SEP] (pairs: [CLS] a [SEP] b [SEP], segments 0 then 1), padded to T.
 */
public final class ShakespeareSpeakers {
    public static final long PAD = 0;
    public static final long CLS = 1;
    public static final long SEP = 2;
    public static final long MASK = 3;

    /** A spoken line: its speaker, text, the speech it belongs to and its position in the play. */
    public record Line(String speaker, String text, int speech, int index) {}

    private final List<Line> lines;
    private final List<String> speakers;
    private final Map<Character, Integer> ids = new LinkedHashMap<>();
    private final List<Line> trainLabeled = new ArrayList<>();
    private final List<Line> testLabeled = new ArrayList<>();
    private final List<Line> pretraining = new ArrayList<>();

    public ShakespeareSpeakers(String text, int topK, double testFraction, long seed) {
        this.lines = parse(text);
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (Line l : lines) {
            counts.merge(l.speaker(), 1, Integer::sum);
        }
        this.speakers = counts.entrySet().stream()
                .sorted(Comparator.<Map.Entry<String, Integer>>comparingInt(Map.Entry::getValue).reversed()
                        .thenComparing(Map.Entry::getKey))
                .limit(topK).map(Map.Entry::getKey).toList();
        TreeSet<Character> chars = new TreeSet<>();
        for (Line l : lines) {
            for (char c : l.text().toCharArray()) {
                chars.add(c);
            }
        }
        int next = 4;
        for (char c : chars) {
            ids.put(c, next++);
        }
        long key = CounterRng.key(seed, "speakers.test");
        for (Line l : lines) {
            boolean labeled = speakers.contains(l.speaker());
            boolean test = labeled && CounterRng.uniform(key, l.index()) < testFraction;
            if (test) {
                testLabeled.add(l);
            } else {
                pretraining.add(l);
                if (labeled) {
                    trainLabeled.add(l);
                }
            }
        }
    }

    static List<Line> parse(String text) {
        List<Line> out = new ArrayList<>();
        int speech = 0;
        for (String block : text.split("\n\\s*\n")) {
            String[] ls = block.strip().split("\n");
            if (ls.length < 2 || !ls[0].endsWith(":")) {
                continue;
            }
            String speaker = ls[0].substring(0, ls[0].length() - 1).strip();
            for (int i = 1; i < ls.length; i++) {
                if (!ls[i].isBlank()) {
                    out.add(new Line(speaker, ls[i].strip(), speech, out.size()));
                }
            }
            speech++;
        }
        return out;
    }

    public int vocabSize() {
        return 4 + ids.size();
    }

    public List<String> speakers() {
        return speakers;
    }

    public List<Line> trainLines() {
        return trainLabeled;
    }

    public List<Line> testLines() {
        return testLabeled;
    }

    /** Lines pre-training may read: every line of the play except the test lines. */
    public List<Line> pretrainingLines() {
        return pretraining;
    }

    public int label(Line l) {
        return speakers.indexOf(l.speaker());
    }

    /** [CLS] text [SEP] [PAD]... of length t (text truncated to t - 2). */
    public long[] encode(String text, int t) {
        long[] out = new long[t];
        out[0] = CLS;
        int n = Math.min(text.length(), t - 2);
        for (int i = 0; i < n; i++) {
            out[1 + i] = ids.getOrDefault(text.charAt(i), (int) MASK);
        }
        out[1 + n] = SEP;
        return out;
    }

    /** [CLS] a [SEP] b [SEP] [PAD]... and its segment ids; each text truncated to (t - 3) / 2. */
    public long[][] encodePair(String a, String b, int t) {
        int half = (t - 3) / 2;
        long[] out = new long[t];
        long[] seg = new long[t];
        out[0] = CLS;
        int p = 1;
        for (int i = 0; i < Math.min(a.length(), half); i++) {
            out[p++] = ids.getOrDefault(a.charAt(i), (int) MASK);
        }
        out[p++] = SEP;
        for (int i = 0; i < Math.min(b.length(), half); i++) {
            seg[p] = 1;
            out[p++] = ids.getOrDefault(b.charAt(i), (int) MASK);
        }
        seg[p] = 1;
        out[p] = SEP;
        return new long[][] {out, seg};
    }

    /** Rows of a classification batch: ids [count, t] and labels [count] of lines {@code from..from+count}. */
    public long[][] classificationBatch(List<Line> source, int[] indices, int t) {
        long[] x = new long[indices.length * t];
        long[] y = new long[indices.length];
        for (int i = 0; i < indices.length; i++) {
            Line l = source.get(indices[i]);
            System.arraycopy(encode(l.text(), t), 0, x, i * t, t);
            y[i] = label(l);
        }
        return new long[][] {x, y};
    }

    /**
     * Pre-training rows of step {@code step}: with {@code nsp}, a line and either the next line of the same speech
     * (label 0) or a random line (label 1), else single lines. Returns {ids, segments (null without nsp), nsp labels}.
     */
    public long[][] pretrainingBatch(long seed, long step, int count, int t, boolean nsp) {
        long key = CounterRng.key(CounterRng.key(seed, "speakers.pretrain"), step);
        long[] x = new long[count * t];
        long[] seg = nsp ? new long[count * t] : null;
        long[] labels = nsp ? new long[count] : null;
        int n = pretraining.size();
        for (int i = 0; i < count; i++) {
            int j = (int) CounterRng.below(key, 3L * i, n);
            Line a = pretraining.get(j);
            if (!nsp) {
                System.arraycopy(encode(a.text(), t), 0, x, i * t, t);
                continue;
            }
            boolean hasNext = j + 1 < n && pretraining.get(j + 1).speech() == a.speech();
            boolean next = hasNext && CounterRng.uniform(key, 3L * i + 1) < 0.5;
            Line b = next ? pretraining.get(j + 1) : pretraining.get((int) CounterRng.below(key, 3L * i + 2, n));
            long[][] pair = encodePair(a.text(), b.text(), t);
            System.arraycopy(pair[0], 0, x, i * t, t);
            System.arraycopy(pair[1], 0, seg, i * t, t);
            labels[i] = next ? 0 : 1;
        }
        return new long[][] {x, seg, labels};
    }

    /** Accuracy on the test set of always answering the most frequent training label. */
    public double majorityBaseline() {
        int[] counts = new int[speakers.size()];
        for (Line l : trainLabeled) {
            counts[label(l)]++;
        }
        int best = 0;
        for (int i = 1; i < counts.length; i++) {
            if (counts[i] > counts[best]) {
                best = i;
            }
        }
        int hits = 0;
        for (Line l : testLabeled) {
            hits += label(l) == best ? 1 : 0;
        }
        return (double) hits / testLabeled.size();
    }

    @Override
    public String toString() {
        return lines.size() + " lines, speakers " + speakers + ": " + trainLabeled.size() + " train / " + testLabeled.size()
                + " test lines; " + pretraining.size() + " pre-training lines; vocab " + vocabSize();
    }
}
