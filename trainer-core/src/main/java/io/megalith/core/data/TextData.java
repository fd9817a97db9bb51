package io.megalith.core.data;

import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.tensor.CounterRng;

/**
 * A token stream split into train (first 1 - valFraction) and validation (the rest); a sample is a
 * window of T+1 tokens at a random offset, as nanoGPT's get_batch: x = w[0:T], y = w[1:T+1].
 */
public final class TextData implements TrainingData {
    private final Tokenizer tokenizer;
    private final int[] tokens;
    private final int trainEnd;
    private final int seqLen;
    private final long trainKey;
    private final long valKey;

    public TextData(Tokenizer tokenizer, int[] tokens, double valFraction, int seqLen, long seed) {
        this.tokenizer = tokenizer;
        this.tokens = tokens;
        this.trainEnd = (int) Math.round(tokens.length * (1 - valFraction));
        this.seqLen = seqLen;
        this.trainKey = CounterRng.key(seed, "data.train");
        this.valKey = CounterRng.key(seed, "data.val");
        int shortest = Math.min(trainEnd, tokens.length - trainEnd);
        if (shortest <= seqLen + 1) {
            throw new IllegalArgumentException("text too short: " + tokens.length + " tokens give splits of "
                    + trainEnd + " and " + (tokens.length - trainEnd) + ", each needs more than " + (seqLen + 1)
                    + " (lower model.block_size or data.val_fraction, or use more text)");
        }
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int seqLen() {
        return seqLen;
    }

    public int trainTokens() {
        return trainEnd;
    }

    public int valTokens() {
        return tokens.length - trainEnd;
    }

    @Override
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(trainKey, step);
        return windows(0, trainEnd, key, first, count);
    }

    @Override
    public Batch validation(int index, int size) {
        return windows(trainEnd, tokens.length, CounterRng.key(valKey, index), 0, size);
    }

    private Batch windows(int from, int to, long key, int first, int count) {
        long[] x = new long[count * seqLen];
        long[] y = new long[count * seqLen];
        int span = to - from - seqLen; // valid starts: [from, to - seqLen)
        for (int i = 0; i < count; i++) {
            int start = from + (int) CounterRng.below(key, first + i, span);
            for (int t = 0; t < seqLen; t++) {
                x[i * seqLen + t] = tokens[start + t];
                y[i * seqLen + t] = tokens[start + t + 1];
            }
        }
        return new Batch(x, y, count, seqLen);
    }

    @Override
    public String describe() {
        return String.format("text: %,d tokens (%s tokenizer, vocab %d), %,d train / %,d val", tokens.length,
                tokenizer.kind(), tokenizer.vocabSize(), trainEnd, tokens.length - trainEnd);
    }
}
