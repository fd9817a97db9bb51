package io.megalith.core.model.bert;

/**
 * BERT's two-segment input, [CLS] A [SEP] B [SEP] with segment (token type) ids 0 for [CLS] A [SEP] and 1 for
 * B [SEP]. One place for the layout so that next-sentence pre-training
 * (family.bert.MlmRows) and sentence-pair classification
 * ({@link io.megalith.core.finetune.ClassificationData}) feed a fine-tuned base the same positions and types it was
 * pre-trained on.
 */
public final class SentencePair {
    /** Positions a pair takes besides its tokens: [CLS] and two [SEP]s. */
    public static final int SPECIALS = 3;

    private SentencePair() {}

    /**
     * Writes [CLS] a[aFrom, aFrom + aLen) [SEP] b[bFrom, bFrom + bLen) [SEP] at the start of {@code row} and the
     * matching segment ids into {@code segments} (same length as row); positions after the last [SEP] are left as
     * they are (the caller's padding, segment 0 as BERT's token_type_ids). Returns the positions written.
     */
    public static int pack(long[] a, int aFrom, int aLen, long[] b, int bFrom, int bLen, long cls, long sep,
            long[] row, long[] segments) {
        int end = SPECIALS + aLen + bLen;
        if (end > row.length) {
            throw new IllegalArgumentException("a pair of " + aLen + " + " + bLen + " tokens needs " + end
                    + " positions, the row has " + row.length);
        }
        row[0] = cls;
        System.arraycopy(a, aFrom, row, 1, aLen);
        row[1 + aLen] = sep;
        System.arraycopy(b, bFrom, row, 2 + aLen, bLen);
        row[end - 1] = sep;
        for (int j = 0; j < end; j++) {
            segments[j] = j < 2 + aLen ? 0 : 1;
        }
        return end;
    }

    /**
     * Lengths of A and B after Hugging Face's {@code longest_first} truncation to at most {@code budget} tokens in
     * all: one token at a time comes off the end of the longer segment (of B when they are equal), so a long
     * segment gives way before a short one loses anything.
     */
    public static int[] longestFirst(int aLen, int bLen, int budget) {
        if (budget < 0) {
            throw new IllegalArgumentException("no room for a pair: budget " + budget);
        }
        int a = aLen;
        int b = bLen;
        while (a + b > budget) {
            if (a > b) {
                a--;
            } else {
                b--;
            }
        }
        return new int[] {a, b};
    }
}
