package io.megalith.core.finetune;

import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.tensor.CounterRng;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Labeled texts for BERT sequence classification through the launcher ({@code data.task: classify | speakers}):
 * {@code label<TAB>text} lines, or the spoken lines of the {@code data.speakers} most frequent speakers of a play in
 * the tinyshakespeare format (labels: speakers). A seeded {@code held_out_fraction} of the examples is never
 * trained on. A sequence is [CLS] + the text's tokens, truncated to {@code blockSize} and padded with [PAD] to
 * {@code blockSize + 1} (one fixed length: shapes and dropout masks do not depend on how a batch is cut); the
 * special ids follow the tokenizer's vocabulary as in masked-LM pre-training (PAD, CLS, SEP, MASK), so a base
 * pre-trained with the same tokenizer reads the same ids.
 */
public final class ClassificationData {
    /** Rows [batch, seqLen] of token ids and their labels [batch]. */
    public record Batch(long[] ids, long[] labels, int batch, int seqLen) {}

    private final List<String> labels;
    private final List<long[]> trainRows = new ArrayList<>();
    private final List<Integer> trainLabels = new ArrayList<>();
    private final List<long[]> heldRows = new ArrayList<>();
    private final List<Integer> heldLabels = new ArrayList<>();
    private final int seqLen;
    private final long rowKey;

    /**
     * @param labels label names, in id order
     * @param examples (label id, text) pairs in file order
     * @param pad the [PAD] id (= the tokenizer's vocabulary size); [CLS] is pad + 1
     */
    ClassificationData(List<String> labels, List<Map.Entry<Integer, String>> examples, Tokenizer tok, long pad,
            int blockSize, double heldOutFraction, long seed) {
        this.labels = List.copyOf(labels);
        this.seqLen = blockSize + 1;
        this.rowKey = CounterRng.key(seed, "classify.rows");
        long split = CounterRng.key(seed, "classify.held_out");
        for (int i = 0; i < examples.size(); i++) {
            long[] row = encode(tok, examples.get(i).getValue(), pad, blockSize);
            boolean held = CounterRng.uniform(split, i) < heldOutFraction;
            (held ? heldRows : trainRows).add(row);
            (held ? heldLabels : trainLabels).add(examples.get(i).getKey());
        }
        if (trainRows.isEmpty() || heldRows.isEmpty()) {
            throw new IllegalArgumentException(examples.size() + " labeled examples give " + trainRows.size()
                    + " to train and " + heldRows.size() + " held out: need both (more lines or another "
                    + "data.held_out_fraction)");
        }
    }

    /** {@code label<TAB>text} lines (blank lines skipped); labels get ids in sorted order. */
    public static ClassificationData tsv(String content, Tokenizer tok, int blockSize, double heldOutFraction,
            long seed) {
        List<String[]> pairs = new ArrayList<>();
        String[] lines = content.split("\r?\n");
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) {
                continue;
            }
            int tab = lines[i].indexOf('\t');
            if (tab <= 0) {
                throw new IllegalArgumentException("line " + (i + 1) + " of the classification data is not "
                        + "label<TAB>text: '" + abbreviate(lines[i]) + "'");
            }
            pairs.add(new String[] {lines[i].substring(0, tab).strip(), lines[i].substring(tab + 1)});
        }
        List<String> labels = new ArrayList<>(new TreeSet<>(pairs.stream().map(p -> p[0]).toList()));
        List<Map.Entry<Integer, String>> examples = pairs.stream()
                .map(p -> Map.entry(labels.indexOf(p[0]), p[1])).toList();
        return new ClassificationData(labels, examples, tok, tok.vocabSize(), blockSize, heldOutFraction, seed);
    }

    /**
     * The spoken lines of the {@code topK} speakers with the most lines of a play ("NAME:" then its lines, speeches
     * separated by blank lines, as tinyshakespeare); label ids by line count, most first (ties by name).
     */
    public static ClassificationData speakers(String play, int topK, Tokenizer tok, int blockSize,
            double heldOutFraction, long seed) {
        List<ShakespeareSpeakers.Line> lines = ShakespeareSpeakers.parse(play);
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (ShakespeareSpeakers.Line l : lines) {
            counts.merge(l.speaker(), 1, Integer::sum);
        }
        List<String> speakers = counts.entrySet().stream()
                .sorted(Comparator.<Map.Entry<String, Integer>>comparingInt(Map.Entry::getValue).reversed()
                        .thenComparing(Map.Entry::getKey))
                .limit(topK).map(Map.Entry::getKey).toList();
        if (speakers.size() < 2) {
            throw new IllegalArgumentException("the play has " + speakers.size() + " speaker(s) (\"NAME:\" lines "
                    + "followed by spoken lines): a classification needs at least 2");
        }
        List<Map.Entry<Integer, String>> examples = lines.stream().filter(l -> speakers.contains(l.speaker()))
                .map(l -> Map.entry(speakers.indexOf(l.speaker()), l.text())).toList();
        return new ClassificationData(speakers, examples, tok, tok.vocabSize(), blockSize, heldOutFraction, seed);
    }

    /**
     * [CLS] + tokens (at most blockSize) + [PAD]s. Characters the tokenizer does not know (a base's char vocabulary
     * need not cover the labeled text) are left out rather than failing the run.
     */
    static long[] encode(Tokenizer tok, String text, long pad, int blockSize) {
        int[] ids;
        try {
            ids = tok.encode(text);
        } catch (IllegalArgumentException unknown) {
            List<Integer> kept = new ArrayList<>();
            text.codePoints().forEach(cp -> {
                try {
                    for (int id : tok.encode(new String(Character.toChars(cp)))) {
                        kept.add(id);
                    }
                } catch (IllegalArgumentException skipped) {
                    // not in the vocabulary
                }
            });
            ids = kept.stream().mapToInt(Integer::intValue).toArray();
        }
        long[] row = new long[blockSize + 1];
        Arrays.fill(row, pad);
        row[0] = pad + 1; // [CLS]
        for (int i = 0; i < Math.min(ids.length, blockSize); i++) {
            row[1 + i] = ids[i];
        }
        return row;
    }

    public List<String> labels() {
        return labels;
    }

    public int seqLen() {
        return seqLen;
    }

    public int trainSize() {
        return trainRows.size();
    }

    public int heldOutSize() {
        return heldRows.size();
    }

    /** Global rows [first, first + count) of a step: training examples drawn by (seed, step, row), any cut alike. */
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(rowKey, step);
        int[] idx = new int[count];
        for (int i = 0; i < count; i++) {
            idx[i] = (int) CounterRng.below(key, first + i, trainRows.size());
        }
        return rows(trainRows, trainLabels, idx);
    }

    /** Held-out examples [from, from + count). */
    public Batch heldOut(int from, int count) {
        int[] idx = new int[Math.min(count, heldRows.size() - from)];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = from + i;
        }
        return rows(heldRows, heldLabels, idx);
    }

    private Batch rows(List<long[]> rows, List<Integer> ys, int[] idx) {
        long[] ids = new long[idx.length * seqLen];
        long[] y = new long[idx.length];
        for (int i = 0; i < idx.length; i++) {
            System.arraycopy(rows.get(idx[i]), 0, ids, i * seqLen, seqLen);
            y[i] = ys.get(idx[i]);
        }
        return new Batch(ids, y, idx.length, seqLen);
    }

    /** Held-out accuracy of always answering the most frequent training label. */
    public double majorityBaseline() {
        int[] counts = new int[labels.size()];
        trainLabels.forEach(l -> counts[l]++);
        int best = 0;
        for (int i = 1; i < counts.length; i++) {
            best = counts[i] > counts[best] ? i : best;
        }
        int b = best;
        return heldLabels.stream().filter(l -> l == b).count() / (double) heldLabels.size();
    }

    /** The texts every example reads, for fitting a tokenizer when no base gives one. */
    public static String texts(String content, boolean speakers) {
        if (speakers) {
            StringBuilder sb = new StringBuilder();
            ShakespeareSpeakers.parse(content).forEach(l -> sb.append(l.text()).append('\n'));
            return sb.toString();
        }
        StringBuilder sb = new StringBuilder();
        for (String line : content.split("\r?\n")) {
            int tab = line.indexOf('\t');
            if (tab > 0) {
                sb.append(line, tab + 1, line.length()).append('\n');
            }
        }
        return sb.toString();
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    @Override
    public String toString() {
        return labels.size() + " labels " + labels + ": " + trainRows.size() + " train / " + heldRows.size()
                + " held-out examples";
    }
}
