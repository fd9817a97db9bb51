package io.megalith.core.model;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * Next-token targets prepared for the loss: ids [N, 1] with ignored positions (-1) replaced by 0,
 * a 0/1 mask [N, 1] (null when nothing is ignored), the number of counted positions, and under distillation a
 * teacher's {@link SoftTargets} (else null).
 */
public record Targets(PtNDArray safe, PtNDArray mask, long counted, long[] host, SoftTargets soft) {
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
        return new Targets(Ops.longs(manager, safe, targets.length, 1), m, counted, targets.clone(), null);
    }

    /** These targets with a teacher's soft targets for the same positions. */
    public Targets withSoft(SoftTargets teacher) {
        return new Targets(safe, mask, counted, host, teacher);
    }

    /** The mean loss of {@code logits} [N, V]: cross-entropy, or the distillation loss with soft targets. */
    public PtNDArray loss(PtNDArray logits) {
        return soft == null ? Ops.crossEntropy(logits, safe, mask, counted) : soft.loss(logits, this);
    }
}
