package io.megalith.core.model;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * Next-token targets prepared for the loss: ids [N, 1] with ignored positions (-1) replaced by 0,
 * a 0/1 mask [N, 1] (null when nothing is ignored) and the number of counted positions.
 */
public record Targets(PtNDArray safe, PtNDArray mask, long counted, long[] host) {
    public static Targets of(NDManager manager, long[] targets) {
        long[] safe = new long[targets.length];
        float[] mask = new float[targets.length];
        long counted = 0;
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] >= 0) {
                safe[i] = targets[i];
                mask[i] = 1f;
                counted++;
            }
        }
        if (counted == 0) {
            throw new IllegalArgumentException("every target is ignored");
        }
        PtNDArray m = counted == targets.length ? null : Ops.floats(manager, mask, targets.length, 1);
        return new Targets(Ops.longs(manager, safe, targets.length, 1), m, counted, targets.clone());
    }
}
