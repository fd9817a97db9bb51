package io.megalith.core.pipeline;

/**
 * This rank's pipeline stage: stage {@code rank} of {@code size} holds blocks
 * [L*rank/size, L*(rank+1)/size) of L (so a layer count not divisible by the stage count gives the later
 * stages the extra blocks), the embedding on the first stage, the final norm, head and loss on the last,
 * and the token embedding on both first and last (the head is tied to it).
 */
public record PpLayout(int rank, int size) {
    public static final PpLayout SINGLE = new PpLayout(0, 1);

    public PpLayout {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("pipeline stage " + rank + " of " + size);
        }
    }

    public boolean first() {
        return rank == 0;
    }

    public boolean last() {
        return rank == size - 1;
    }

    public boolean parallel() {
        return size > 1;
    }

    /** First block of this stage. */
    public int firstBlock(int layers) {
        return (int) ((long) layers * rank / size);
    }

    /** One past the last block of this stage. */
    public int endBlock(int layers) {
        return (int) ((long) layers * (rank + 1) / size);
    }
}
