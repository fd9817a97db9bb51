package io.megalith.core.train;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
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

        /** After segment i's forward (e.g. release gathered parameters). */
        default void afterForward(int segment) {}

        /** After segment i's backward: its parameters' gradients for this micro-batch are complete. */
        default void afterBackward(int segment) {}
    }

    public static final Hooks NO_HOOKS = new Hooks() {};

    private SegmentedPass() {}

    /**
     * Runs {@code segments} on {@code input}; the last segment must return the scalar loss, whose
     * backward starts from {@code lossScale}. Returns the loss value. Call within an NDScope.
     */
    public static float run(List<Segment> segments, PtNDArray input, ForwardContext ctx, float lossScale, Hooks hooks,
            boolean recompute) {
        int n = segments.size();
        List<PtNDArray> inputs = new ArrayList<>(n);
        PtNDArray[] outputs = new PtNDArray[n];
        PtNDArray x = input;
        for (int i = 0; i < n; i++) {
            PtNDArray in = i == 0 ? x : leaf(x);
            inputs.add(in);
            hooks.beforeForward(i, false);
            PtNDArray out = forward(segments.get(i), in, ctx);
            hooks.afterForward(i);
            // a recomputing pass keeps the output only as the next input (detached: no graph behind it)
            outputs[i] = recompute && i < n - 1 ? null : out;
            x = out;
        }
        float loss = x.getFloat();
        PtNDArray upstream = Ops.scalar(ctx.manager(), lossScale);
        for (int i = n - 1; i >= 0; i--) {
            PtNDArray out = outputs[i];
            if (out == null) {
                hooks.beforeForward(i, true);
                out = forward(segments.get(i), inputs.get(i), ctx);
                hooks.afterForward(i);
            }
            JniUtils.backward(out, upstream, false, false);
            hooks.afterBackward(i);
            if (i > 0) {
                upstream = JniUtils.getGradient(inputs.get(i));
            }
        }
        return loss;
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
