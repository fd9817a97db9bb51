package io.megalith.core.data.shards;

import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.TrainingData;
import io.megalith.core.data.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.hadoop.conf.Configuration;

/**
 * Text training data from a prepared data set: exactly the samples {@link TextData} gives for the same token
 * stream (same split, same windows from (seed, step, sample index)), read from the shards by position, so each
 * rank reads only the samples of its slice of a batch.
 */
public final class ShardedTextData implements TrainingData {
    private final TokenShards shards;
    private final TextData text;

    private ShardedTextData(TokenShards shards, TextData text) {
        this.shards = shards;
        this.text = text;
    }

    /**
     * Opens a prepared data set (verifying it; see {@link TokenShards#open}) with the tokenizer saved in it.
     *
     * @param preparedDir a URI ({@code hdfs://...}, {@code file:...}) or a local path
     * @param valFraction the last fraction of the tokens is the validation split
     * @param seqLen tokens per sample
     */
    public static ShardedTextData open(String preparedDir, Configuration hadoop, double valFraction, int seqLen,
            long seed) throws IOException {
        return open(preparedDir, hadoop, ShardReading.IN_MEMORY, valFraction, seqLen, seed);
    }

    /** As {@link #open(String, Configuration, double, int, long)}, in memory or streaming as {@code reading} says. */
    public static ShardedTextData open(String preparedDir, Configuration hadoop, ShardReading reading,
            double valFraction, int seqLen, long seed) throws IOException {
        TokenShards shards = TokenShards.open(preparedDir, hadoop, reading);
        Tokenizer tok = null;
        try {
            tok = shards.tokenizer();
            return new ShardedTextData(shards, new TextData(tok, shards, valFraction, seqLen, seed));
        } catch (IOException | RuntimeException e) {
            if (tok != null) {
                tok.close();
            }
            shards.close();
            throw e;
        }
    }

    public TokenShards shards() {
        return shards;
    }

    @Override
    public Tokenizer tokenizer() {
        return text.tokenizer();
    }

    @Override
    public int seqLen() {
        return text.seqLen();
    }

    @Override
    public Batch train(long step, int first, int count) {
        return text.train(step, first, count);
    }

    @Override
    public Batch validation(int index, int size) {
        return text.validation(index, size);
    }

    public long trainTokens() {
        return text.trainTokens();
    }

    public long valTokens() {
        return text.valTokens();
    }

    @Override
    public String describe() {
        return text.describe() + String.format(", %d shards (%s, %s) in %s", shards.index().shards().size(),
                shards.index().dtype(), shards.streaming() ? "streamed" : "in memory", shards.dir());
    }

    @Override
    public void close() {
        text.close();
        try {
            shards.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
