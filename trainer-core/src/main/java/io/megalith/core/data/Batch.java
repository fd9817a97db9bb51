package io.megalith.core.data;

/**
 * Token ids of {@code size} sequences of length {@code seqLen}, row-major, with next-token targets
 * (-1 = not scored, e.g. the prompt of a synthetic task).
 */
public record Batch(long[] inputs, long[] targets, int size, int seqLen) {
    public Batch {
        if (inputs.length != (long) size * seqLen || targets.length != inputs.length) {
            throw new IllegalArgumentException("batch of " + size + "x" + seqLen + " with " + inputs.length
                    + " inputs and " + targets.length + " targets");
        }
    }

    /** Number of scored target positions. */
    public long scored() {
        long n = 0;
        for (long t : targets) {
            if (t >= 0) {
                n++;
            }
        }
        return n;
    }
}
