package io.megalith.core.family.bert;

import io.megalith.core.data.Batch;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.bert.MlmMasking;
import io.megalith.core.model.bert.SentencePair;
import io.megalith.core.tensor.CounterRng;

/**
 * BERT pre-training rows from the token windows of a {@link io.megalith.core.data.TrainingData} (the launcher's
 * {@code model.family: bert}): [CLS] + the window, or with next-sentence prediction [CLS] A [SEP] B [SEP] (segments
 * 0 then 1, laid out by {@link SentencePair} as sentence-pair classification reads them), A the window's first half
 * and B either the tokens that follow A in the same window (label 0) or as many tokens of another window (label 1),
 * each half the time; then masked 15% / 80-10-10. Every draw is keyed by the global row, so any cut of a batch over
 * data-parallel ranks gives the same rows.
 */
public final class MlmRows {
    /** Where the random B of row r of a step comes from: sample OTHER + r of the same step, an independent window. */
    public static final int OTHER = 1 << 30;

    private MlmRows() {}

    /**
     * @param rows windows of T tokens, global rows first .. first + count - 1
     * @param others windows for random B sentences (row i for row i), or null: no NSP
     * @param specials PAD, CLS, SEP, MASK are ids specials .. specials + 3
     */
    public static MlmBatch of(Batch rows, Batch others, long specials, int vocabSize, long key, int first) {
        int t = rows.seqLen() + 1;
        long pad = specials;
        long cls = specials + 1;
        long sep = specials + 2;
        MlmMasking masking = new MlmMasking(vocabSize, specials + 3, pad, cls, sep);
        long[] inputs = new long[rows.size() * t];
        long[] targets = new long[rows.size() * t];
        long[] segments = others == null ? null : new long[rows.size() * t];
        long[] labels = others == null ? null : new long[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            long[] row = new long[t];
            row[0] = cls;
            int at = i * rows.seqLen();
            if (others == null) {
                System.arraycopy(rows.inputs(), at, row, 1, rows.seqLen());
            } else {
                // [CLS] A(h) [SEP] B(b) [SEP]: 1 + h + 1 + b + 1 = T + 1 positions
                int h = (rows.seqLen() - 2) / 2;
                int b = rows.seqLen() - 2 - h;
                boolean next = CounterRng.uniform(CounterRng.key(key, "nsp"), first + i) < 0.5;
                long[] seg = new long[t];
                SentencePair.pack(rows.inputs(), at, h, next ? rows.inputs() : others.inputs(), at + h, b, cls, sep,
                        row, seg);
                System.arraycopy(seg, 0, segments, i * t, t);
                labels[i] = next ? 0 : 1;
            }
            long[][] r = masking.apply(row, CounterRng.key(key, first + i));
            System.arraycopy(r[0], 0, inputs, i * t, t);
            System.arraycopy(r[1], 0, targets, i * t, t);
        }
        return new MlmBatch(inputs, segments, targets, labels, rows.size(), t);
    }
}
