package io.megalith.core.data;

import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.tensor.CounterRng;

/**
 * A token stream split into train (first 1 - valFraction) and validation (the rest); a sample is a
 * window of T+1 tokens at a random offset, as nanoGPT's get_batch: x = w[0:T], y = w[1:T+1].
 *
 * <p>The stream is any {@link TokenSource}: an array tokenized in this process, or shards prepared by Spark
 * ({@link io.megalith.core.data.shards.ShardedTextData}). Split and offsets depend only on the stream's length
 * and (seed, step, sample index), so the same stream gives the same samples however it is stored.
 */
public final class TextData implements TrainingData {
    private final Tokenizer tokenizer;
    private final TokenSource tokens;
    private final long trainEnd;
    private final int seqLen;
    private final long trainKey;
    private final long valKey;

    public TextData(Tokenizer tokenizer, int[] tokens, double valFraction, int seqLen, long seed) {
        this(tokenizer, TokenSource.of(tokens), valFraction, seqLen, seed);
    }

    public TextData(Tokenizer tokenizer, TokenSource tokens, double valFraction, int seqLen, long seed) {
        this.tokenizer = tokenizer;
        this.tokens = tokens;
        long size = tokens.size();
        this.trainEnd = Math.round(size * (1 - valFraction));
        this.seqLen = seqLen;
        this.trainKey = CounterRng.key(seed, "data.train");
        this.valKey = CounterRng.key(seed, "data.val");
        long shortest = Math.min(trainEnd, size - trainEnd);
        if (shortest <= seqLen + 1) {
            throw new IllegalArgumentException("text too short: " + size + " tokens give splits of "
                    + trainEnd + " and " + (size - trainEnd) + ", each needs more than " + (seqLen + 1)
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

    public long trainTokens() {
        return trainEnd;
    }

    public long valTokens() {
        return tokens.size() - trainEnd;
    }

    @Override
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(trainKey, step);
        return windows(0, trainEnd, key, first, count);
    }

    @Override
    public Batch validation(int index, int size) {
        return windows(trainEnd, tokens.size(), CounterRng.key(valKey, index), 0, size);
    }

    private Batch windows(long from, long to, long key, int first, int count) {
        long[] x = new long[count * seqLen];
        long[] y = new long[count * seqLen];
        long span = to - from - seqLen; // valid starts: [from, to - seqLen)
        int[] window = new int[seqLen + 1]; // one read per sample: a source may be slow per call
        for (int i = 0; i < count; i++) {
            long start = from + CounterRng.below(key, first + i, span);
            tokens.read(start, window);
            for (int t = 0; t < seqLen; t++) {
                x[i * seqLen + t] = window[t];
                y[i * seqLen + t] = window[t + 1];
            }
        }
        return new Batch(x, y, count, seqLen);
    }

    @Override
    public String describe() {
        return String.format("text: %,d tokens (%s tokenizer, vocab %d), %,d train / %,d val", tokens.size(),
                tokenizer.kind(), tokenizer.vocabSize(), trainEnd, tokens.size() - trainEnd);
    }
}
