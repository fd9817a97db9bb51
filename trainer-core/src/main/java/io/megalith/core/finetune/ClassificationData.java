package io.megalith.core.finetune;

import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.model.bert.SentencePair;
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
 * {@code label<TAB>text} lines, {@code label<TAB>text_a<TAB>text_b} lines (sentence pairs, as MNLI / QQP), or the
 * spoken lines of the {@code data.speakers} most frequent speakers of a play in the tinyshakespeare format (labels:
 * speakers). A seeded {@code held_out_fraction} of the examples is never trained on. A sequence is [CLS] + the
 * text's tokens truncated to {@code blockSize}, or a pair [CLS] A [SEP] B [SEP] ({@link SentencePair}: token types
 * 0 then 1) truncated longest-first to the same {@code blockSize + 1} positions; padded with [PAD] to that one fixed
 * length (shapes and dropout masks do not depend on how a batch is cut). The special ids follow the tokenizer's
 * vocabulary as in masked-LM pre-training (PAD, CLS, SEP, MASK), so a base pre-trained with the same tokenizer
 * (with NSP: the same pair layout) reads the same ids.
 */
public final class ClassificationData {
    /**
     * Rows [batch, seqLen] of token ids, their token types [batch, seqLen] (null for one-segment data: all 0) and
     * their labels [batch].
     */
    public record Batch(long[] ids, long[] segments, long[] labels, int batch, int seqLen) {}

    /** One labeled example: a text, or a pair (text, pair) when pair is not null. */
    record Example(int label, String text, String pair) {}

    /** An encoded example: ids, token types (null: one segment) and label id. */
    private record Row(long[] ids, long[] segments, int label) {}

    private final List<String> labels;
    private final List<Row> train = new ArrayList<>();
    private final List<Row> held = new ArrayList<>();
    private final boolean pairs;
    private final int seqLen;
    private final long rowKey;

    /**
     * @param labels label names, in id order
     * @param examples in file order, all texts or all pairs
     * @param pad the [PAD] id (= the tokenizer's vocabulary size); [CLS] is pad + 1, [SEP] pad + 2
     */
    ClassificationData(List<String> labels, List<Example> examples, Tokenizer tok, long pad, int blockSize,
            double heldOutFraction, long seed) {
        this.labels = List.copyOf(labels);
        this.pairs = !examples.isEmpty() && examples.get(0).pair() != null;
        this.seqLen = blockSize + 1;
        this.rowKey = CounterRng.key(seed, "classify.rows");
        long split = CounterRng.key(seed, "classify.held_out");
        if (pairs && blockSize < SentencePair.SPECIALS) {
            throw new IllegalArgumentException("model.block_size " + blockSize + " leaves no room for a sentence "
                    + "pair's tokens besides [CLS] and two [SEP]s: set it to at least " + SentencePair.SPECIALS);
        }
        for (int i = 0; i < examples.size(); i++) {
            Example e = examples.get(i);
            long[][] pair = pairs ? encodePair(tok, e.text(), e.pair(), pad, blockSize) : null;
            Row row = pairs ? new Row(pair[0], pair[1], e.label())
                    : new Row(encode(tok, e.text(), pad, blockSize), null, e.label());
            boolean isHeld = CounterRng.uniform(split, i) < heldOutFraction;
            (isHeld ? held : train).add(row);
        }
        if (train.isEmpty() || held.isEmpty()) {
            throw new IllegalArgumentException(examples.size() + " labeled examples give " + train.size()
                    + " to train and " + held.size() + " held out: need both (more lines or another "
                    + "data.held_out_fraction)");
        }
    }

    /**
     * {@code label<TAB>text} or {@code label<TAB>text_a<TAB>text_b} lines (blank lines skipped), one kind throughout
     * (a file is one task: a mixed one is more likely a stray tab than meant); labels get ids in sorted order.
     */
    public static ClassificationData tsv(String content, Tokenizer tok, int blockSize, double heldOutFraction,
            long seed) {
        List<String[]> rows = new ArrayList<>();
        String[] lines = content.split("\r?\n");
        int firstLine = 0;
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) {
                continue;
            }
            String[] f = lines[i].split("\t", -1);
            if (f.length < 2 || f.length > 3 || f[0].isBlank()) {
                throw new IllegalArgumentException("line " + (i + 1) + " of the classification data is not "
                        + "label<TAB>text or label<TAB>text_a<TAB>text_b: '" + abbreviate(lines[i]) + "'");
            }
            if (rows.isEmpty()) {
                firstLine = i + 1;
            } else if (f.length != rows.get(0).length) {
                throw new IllegalArgumentException("line " + (i + 1) + " of the classification data has "
                        + (f.length - 1) + " text(s) but line " + firstLine + " has " + (rows.get(0).length - 1)
                        + ": a file is label<TAB>text or label<TAB>text_a<TAB>text_b throughout");
            }
            f[0] = f[0].strip();
            rows.add(f);
        }
        List<String> labels = new ArrayList<>(new TreeSet<>(rows.stream().map(f -> f[0]).toList()));
        List<Example> examples = rows.stream()
                .map(f -> new Example(labels.indexOf(f[0]), f[1], f.length == 3 ? f[2] : null)).toList();
        return new ClassificationData(labels, examples, tok, tok.vocabSize(), blockSize, heldOutFraction, seed);
    }

    /**
     * The spoken lines of the {@code topK} speakers with the most lines of a play ("NAME:" then its lines, speeches
     * separated by blank lines, as tinyshakespeare); label ids by line count, most first (ties by name).
     */
    public static ClassificationData speakers(String play, int topK, Tokenizer tok, int blockSize,
            double heldOutFraction, long seed) {
        List<ShakespeareSpeakers.Line> lines = ShakespeareSpeakers.parse(play);
        List<String> speakers = topSpeakers(lines, topK);
        List<Example> examples = lines.stream().filter(l -> speakers.contains(l.speaker()))
                .map(l -> new Example(speakers.indexOf(l.speaker()), l.text(), null)).toList();
        return new ClassificationData(speakers, examples, tok, tok.vocabSize(), blockSize, heldOutFraction, seed);
    }

    /**
     * Every spoken line of the play except those {@link #speakers} holds out (same play, topK, fraction and seed),
     * one a line: what masked-LM pre-training may read without ever seeing a held-out line.
     */
    public static String withoutHeldOut(String play, int topK, double heldOutFraction, long seed) {
        List<ShakespeareSpeakers.Line> lines = ShakespeareSpeakers.parse(play);
        List<String> speakers = topSpeakers(lines, topK);
        long split = CounterRng.key(seed, "classify.held_out");
        StringBuilder sb = new StringBuilder();
        int example = 0; // the example index the held-out draw of the constructor uses
        for (ShakespeareSpeakers.Line l : lines) {
            if (speakers.contains(l.speaker()) && CounterRng.uniform(split, example++) < heldOutFraction) {
                continue;
            }
            sb.append(l.text()).append('\n');
        }
        return sb.toString();
    }

    private static List<String> topSpeakers(List<ShakespeareSpeakers.Line> lines, int topK) {
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
        return speakers;
    }

    /** [CLS] + tokens (at most blockSize) + [PAD]s. */
    static long[] encode(Tokenizer tok, String text, long pad, int blockSize) {
        long[] ids = tokens(tok, text);
        long[] row = new long[blockSize + 1];
        Arrays.fill(row, pad);
        row[0] = pad + 1; // [CLS]
        System.arraycopy(ids, 0, row, 1, Math.min(ids.length, blockSize));
        return row;
    }

    /**
     * {ids, token types} of [CLS] A [SEP] B [SEP] + [PAD]s (type 0) in blockSize + 1 positions, as a single text's
     * row: A and B truncated longest-first to the blockSize - 2 tokens the three specials leave.
     */
    static long[][] encodePair(Tokenizer tok, String a, String b, long pad, int blockSize) {
        long[] ta = tokens(tok, a);
        long[] tb = tokens(tok, b);
        int[] n = SentencePair.longestFirst(ta.length, tb.length, blockSize + 1 - SentencePair.SPECIALS);
        long[] row = new long[blockSize + 1];
        long[] types = new long[blockSize + 1];
        Arrays.fill(row, pad);
        SentencePair.pack(ta, 0, n[0], tb, 0, n[1], pad + 1, pad + 2, row, types);
        return new long[][] {row, types};
    }

    /**
     * The text's token ids. Characters the tokenizer does not know (a base's char vocabulary need not cover the
     * labeled text) are left out rather than failing the run.
     */
    private static long[] tokens(Tokenizer tok, String text) {
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
        return Arrays.stream(ids).asLongStream().toArray();
    }

    public List<String> labels() {
        return labels;
    }

    /** Whether the examples are sentence pairs (batches carry token types). */
    public boolean pairs() {
        return pairs;
    }

    public int seqLen() {
        return seqLen;
    }

    public int trainSize() {
        return train.size();
    }

    public int heldOutSize() {
        return held.size();
    }

    /** Global rows [first, first + count) of a step: training examples drawn by (seed, step, row), any cut alike. */
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(rowKey, step);
        int[] idx = new int[count];
        for (int i = 0; i < count; i++) {
            idx[i] = (int) CounterRng.below(key, first + i, train.size());
        }
        return rows(train, idx);
    }

    /** Held-out examples [from, from + count). */
    public Batch heldOut(int from, int count) {
        int[] idx = new int[Math.min(count, held.size() - from)];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = from + i;
        }
        return rows(held, idx);
    }

    private Batch rows(List<Row> rows, int[] idx) {
        long[] ids = new long[idx.length * seqLen];
        long[] types = pairs ? new long[idx.length * seqLen] : null;
        long[] y = new long[idx.length];
        for (int i = 0; i < idx.length; i++) {
            Row r = rows.get(idx[i]);
            System.arraycopy(r.ids(), 0, ids, i * seqLen, seqLen);
            if (pairs) {
                System.arraycopy(r.segments(), 0, types, i * seqLen, seqLen);
            }
            y[i] = r.label();
        }
        return new Batch(ids, types, y, idx.length, seqLen);
    }

    /** Held-out accuracy of always answering the most frequent training label. */
    public double majorityBaseline() {
        int[] counts = new int[labels.size()];
        train.forEach(r -> counts[r.label()]++);
        int best = 0;
        for (int i = 1; i < counts.length; i++) {
            best = counts[i] > counts[best] ? i : best;
        }
        int b = best;
        return held.stream().filter(r -> r.label() == b).count() / (double) held.size();
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
            String[] f = line.split("\t", -1);
            for (int i = 1; i < f.length; i++) { // both texts of a pair
                sb.append(f[i]).append('\n');
            }
        }
        return sb.toString();
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    @Override
    public String toString() {
        return labels.size() + " labels " + labels + ": " + train.size() + " train / " + held.size()
                + " held-out " + (pairs ? "sentence pairs" : "examples");
    }
}
