package io.megalith.launcher.spark;

import java.io.Serial;

/**
 * The cluster cannot run all ranks of a {@link BarrierJob} at once, so it was not submitted. Unlike a
 * {@link BarrierJobException}, retrying does not help until the cluster or the world size changes.
 */
public final class InsufficientSlotsException extends IllegalStateException {
    @Serial
    private static final long serialVersionUID = 1L;
    private final int needed;
    private final int available;

    InsufficientSlotsException(int needed, int available, String details) {
        super("world size " + needed + " needs " + needed + " task slots, the cluster has " + available + ": " + details);
        this.needed = needed;
        this.available = available;
    }

    /** Task slots the job needs: its world size. */
    public int needed() {
        return needed;
    }

    /** Task slots the cluster had. */
    public int available() {
        return available;
    }
}
