package io.megalith.core.train;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.comm.Communicator;
import io.megalith.core.comm.ElementType;
import io.megalith.core.comm.ReduceOp;
import io.megalith.core.model.Segment;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.List;

/**
 * Forward and backward of one micro-batch through a chain of {@link Segment}s, with autograd run per
 * segment. DJL has no user-defined autograd functions, so this is how gradients cross points where
 * something happens between layers: each segment's input is a fresh leaf tensor, forward records the
 * segment's graph only, and backward runs segment by segment in reverse,
 * {@code backward(output_i, upstream)} leaving {@code d loss / d input_i} in the leaf's gradient, which
 * becomes the upstream gradient of segment i-1. The result equals one backward through the whole chain.
 *
 * <p>With {@code recompute} (activation checkpointing) only the segments' inputs are kept: each
 * segment's forward runs again, with the same dropout masks, just before its backward.
 */
public final class SegmentedPass {
    /** What a runner does between segments (all default to nothing). */
    public interface Hooks {
        /** Before segment i's forward, and before its recomputed forward (e.g. gather its parameters). */
        default void beforeForward(int segment, boolean recomputing) {}

        /** After segment i's forward, or its recomputed forward (e.g. release gathered parameters). */
        default void afterForward(int segment, boolean recomputing) {}

        /** After segment i's backward: its parameters' gradients for this micro-batch are complete. */
        default void afterBackward(int segment) {}
    }

    public static final Hooks NO_HOOKS = new Hooks() {};

    /** Which activations are dropped and recomputed during backward. */
    public enum Recompute {
        /** Keep every segment's graph (fastest, most memory). */
        NONE,
        /** Keep only segment inputs; recompute every segment but the last (activation checkpointing). */
        ALL_BUT_LAST,
        /** Recompute every segment, the loss too: no graph outlives its segment's forward (ZeRO-3). */
        ALL
    }

    private SegmentedPass() {}

    /**
     * Runs {@code segments} on {@code input}; the last segment must return the scalar loss, whose
     * backward starts from {@code lossScale}. Returns the loss value. Call within an NDScope.
     */
    public static float run(List<Segment> segments, PtNDArray input, ForwardContext ctx, float lossScale, Hooks hooks,
            boolean recompute) {
        return run(segments, input, ctx, lossScale, hooks, recompute ? Recompute.ALL_BUT_LAST : Recompute.NONE);
    }

    /** As above, with the recomputation policy spelled out. */
    public static float run(List<Segment> segments, PtNDArray input, ForwardContext ctx, float lossScale, Hooks hooks,
            Recompute recompute) {
        return run(segments, input, ctx, lossScale, hooks, recompute, null);
    }

    /**
     * As above, for segments whose outputs and input gradients are partial sums over {@code partialSums}
     * (tensor parallelism): every segment output but the loss is all-reduced before it becomes the next
     * input, and every input gradient is all-reduced before it becomes the upstream of the segment before.
     * These are Megatron's g and f operators, placed at segment boundaries. Null: no such group.
     */
    public static float run(List<Segment> segments, PtNDArray input, ForwardContext ctx, float lossScale, Hooks hooks,
            Recompute recompute, Communicator partialSums) {
        boolean sum = partialSums != null && partialSums.size() > 1;
        int n = segments.size();
        List<PtNDArray> inputs = new ArrayList<>(n);
        PtNDArray[] outputs = new PtNDArray[n];
        PtNDArray x = input;
        float loss = Float.NaN;
        for (int i = 0; i < n; i++) {
            PtNDArray in = i == 0 ? x : leaf(x);
            inputs.add(in);
            boolean drop = recompute == Recompute.ALL || (recompute == Recompute.ALL_BUT_LAST && i < n - 1);
            hooks.beforeForward(i, false);
            if (!drop) {
                outputs[i] = forward(segments.get(i), in, ctx);
                x = sum && i < n - 1 ? summed(outputs[i], partialSums) : outputs[i];
            } else {
                // Every tensor of this forward lives in its own scope: closing it frees the segment's graph
                // and activations at once; only a detached copy of the output survives as the next input.
                try (NDScope segmentScope = new NDScope()) {
                    PtNDArray out = forward(segments.get(i), in, ctx);
                    if (i < n - 1) {
                        x = sum ? summed(out, partialSums) : JniUtils.detachGradient(out);
                        NDScope.unregister(x);
                    } else {
                        loss = out.getFloat();
                    }
                }
                if (i < n - 1) {
                    NDScope.register(x);
                }
            }
            hooks.afterForward(i, false);
        }
        if (outputs[n - 1] != null) {
            loss = outputs[n - 1].getFloat();
        }
        if (ctx.reportedLoss() != null) {
            loss = ctx.reportedLoss(); // the last segment returned a surrogate with the loss's gradient
        }
        PtNDArray upstream = Ops.scalar(ctx.manager(), lossScale);
        for (int i = n - 1; i >= 0; i--) {
            NDScope segmentScope = outputs[i] == null ? new NDScope() : null;
            try {
                PtNDArray out = outputs[i];
                if (out == null) {
                    hooks.beforeForward(i, true);
                    out = forward(segments.get(i), inputs.get(i), ctx);
                    hooks.afterForward(i, true);
                }
                JniUtils.backward(out, upstream, false, false);
                hooks.afterBackward(i);
            } finally {
                if (segmentScope != null) {
                    segmentScope.close(); // the recomputed graph is done with
                }
            }
            if (i > 0) {
                upstream = JniUtils.getGradient(inputs.get(i));
                if (sum) {
                    allReduce(upstream, partialSums);
                }
            }
        }
        return loss;
    }

    /** A copy of x (no graph) summed over the group. */
    private static PtNDArray summed(PtNDArray x, Communicator group) {
        PtNDArray copy = JniUtils.clone(JniUtils.detachGradient(x));
        allReduce(copy, group);
        return copy;
    }

    private static void allReduce(PtNDArray x, Communicator group) {
        group.allReduce(Ops.bytes(x, true), ElementType.F32, ReduceOp.SUM);
    }

    private static PtNDArray forward(Segment s, PtNDArray in, ForwardContext ctx) {
        JniUtils.setGradMode(true);
        try {
            return s.forward(in, ctx);
        } finally {
            JniUtils.setGradMode(false);
        }
    }

    /** A new leaf sharing x's memory, whose gradient the next backward fills. */
    private static PtNDArray leaf(PtNDArray x) {
        PtNDArray d = JniUtils.detachGradient(x);
        NDScope.register(d);
        JniUtils.attachGradient(d, true);
        return d;
    }
}
