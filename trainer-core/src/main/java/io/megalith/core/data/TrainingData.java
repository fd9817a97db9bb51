package io.megalith.core.data;

import io.megalith.core.data.tokenizer.Tokenizer;

/**
 * Where batches come from. Sample {@code i} of optimizer step {@code s} is a pure function of
 * (seed, s, i): any layout of ranks can take any slice of a step's global batch, and resuming at
 * step s needs nothing but s.
 */
public interface TrainingData extends AutoCloseable {
    Tokenizer tokenizer();

    /** Sequence length T of every sample (the model's context must be at least this). */
    int seqLen();

    /** Samples [first, first + count) of step {@code step}'s global training batch. */
    Batch train(long step, int first, int count);

    /** Validation batch {@code index} of {@code size} samples; the same every time it is asked for. */
    Batch validation(int index, int size);

    /** A one-line description for logs. */
    String describe();

    @Override
    default void close() {
        tokenizer().close();
    }
}
