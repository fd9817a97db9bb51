package io.megalith.core.segment;

import static io.megalith.core.tensorparallel.TensorParallelBoundaries.copyToRegion;
import static io.megalith.core.tensorparallel.TensorParallelBoundaries.copyToRegionBackward;
import static io.megalith.core.tensorparallel.TensorParallelBoundaries.gatherFromSequence;
import static io.megalith.core.tensorparallel.TensorParallelBoundaries.gatherFromSequenceBackward;
import static io.megalith.core.tensorparallel.TensorParallelBoundaries.reduceFromRegion;
import static io.megalith.core.tensorparallel.TensorParallelBoundaries.reduceFromRegionBackward;
import static io.megalith.core.tensorparallel.TensorParallelBoundaries.reduceScatterToSequence;
import static io.megalith.core.tensorparallel.TensorParallelBoundaries.reduceScatterToSequenceBackward;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TensorParallelBoundaries;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

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
        ALL;

        /** What {@code train.activation_checkpointing} asks for. */
        public static Recompute of(boolean activationCheckpointing) {
            return activationCheckpointing ? ALL_BUT_LAST : NONE;
        }
    }

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
     * As above, for segments whose outputs and input gradients cross {@code partialSums}, the tensor-parallel
     * group, at segment boundaries as each segment's {@link Segment#boundary()} says: with plain tensor
     * parallelism every segment output but the loss is all-reduced before it becomes the next input, and every
     * input gradient is all-reduced before it becomes the upstream of the segment before (Megatron's g and f
     * operators, {@link TensorParallelBoundaries}); with sequence parallelism boundaries all-gather or reduce-scatter along the sequence instead,
     * and their transposes run in backward. Null: no such group.
     */
    public static float run(List<Segment> segments, PtNDArray input, ForwardContext ctx, float lossScale, Hooks hooks,
            Recompute recompute, Communicator partialSums) {
        SegmentedPass pass = new SegmentedPass(segments, ctx, hooks, recompute, partialSums, false, true);
        try {
            pass.forward(input);
            float loss = pass.loss();
            pass.backward(Ops.scalar(ctx.manager(), lossScale));
            return loss;
        } finally {
            pass.close();
        }
    }

    /**
     * Two chains where the second reads the first's output as a second input: an encoder-decoder, whose every
     * cross-attention reads the encoder output. The first chain runs as a stage without a loss (its output is
     * handed on through its last segment's boundary); that output becomes one leaf, the {@code memory} the
     * second chain's segments are built over ({@code second.apply(memory)}) and read wherever they need it. The
     * second chain runs forward and backward from {@code lossScale}; every reader's gradient has accumulated into
     * the leaf by then, and that sum, through the transpose of the first chain's last boundary, is the upstream
     * gradient of the first chain's backward. Hooks see one index space: the first chain's segments, then the
     * second's. Returns the loss.
     */
    public static float runTwoChains(List<Segment> first, PtNDArray firstInput,
            Function<PtNDArray, List<Segment>> second, PtNDArray secondInput, ForwardContext ctx,
            float lossScale, Hooks hooks, Recompute recompute, Communicator partialSums) {
        int offset = first.size();
        Hooks shifted = new Hooks() {
            @Override
            public void beforeForward(int segment, boolean recomputing) {
                hooks.beforeForward(offset + segment, recomputing);
            }

            @Override
            public void afterForward(int segment, boolean recomputing) {
                hooks.afterForward(offset + segment, recomputing);
            }

            @Override
            public void afterBackward(int segment) {
                hooks.afterBackward(offset + segment);
            }
        };
        SegmentedPass encoder = new SegmentedPass(first, ctx, hooks, recompute, partialSums, false, false);
        SegmentedPass decoder = null;
        try {
            PtNDArray memory = encoder.own(leaf(encoder.forward(firstInput)));
            decoder = new SegmentedPass(second.apply(memory), ctx, shifted, recompute, partialSums, false, true);
            decoder.forward(secondInput);
            float loss = decoder.loss();
            decoder.backward(Ops.scalar(ctx.manager(), lossScale));
            PtNDArray grad = JniUtils.getGradient(memory);
            PtNDArray upstream = encoder.gradientAcross(grad, first.get(first.size() - 1).boundary());
            encoder.backward(upstream);
            if (upstream != grad) {
                upstream.close();
            }
            grad.close(); // a handle only: the gradient belongs to the leaf
            return loss;
        } finally {
            if (decoder != null) {
                decoder.close();
            }
            encoder.close();
        }
    }

    private final List<Segment> segments;
    private final ForwardContext ctx;
    private final Hooks hooks;
    private final Recompute recompute;
    private final Communicator partialSums;
    private final boolean sum;
    private final boolean inputNeedsGradient;
    private final boolean endsWithLoss;
    private final List<PtNDArray> inputs = new ArrayList<>();
    private PtNDArray[] outputs;
    private PtNDArray[] extras; // per segment: its auxiliary loss (MoE), added to its backward, or null
    private final List<PtNDArray> owned = new ArrayList<>();
    private final Segment.Boundary stageInput;
    private float loss = Float.NaN;

    /**
     * One micro-batch through a chain that may be a pipeline stage: {@code inputNeedsGradient} when the chain's
     * input comes from a previous stage (its gradient is sent back), {@code endsWithLoss} when the last segment
     * returns the loss (the last stage). Forward and backward are separate calls so that a pipeline schedule
     * can interleave micro-batches; the pass owns the tensors that must live from one to the other (call
     * {@link #close()} after backward).
     */
    public SegmentedPass(List<Segment> segments, ForwardContext ctx, Hooks hooks, Recompute recompute,
            Communicator partialSums, boolean inputNeedsGradient, boolean endsWithLoss) {
        this(segments, ctx, hooks, recompute, partialSums, inputNeedsGradient, endsWithLoss, Segment.Boundary.ALL_REDUCE);
    }

    /**
     * As above; {@code stageInput} is the boundary the chain's input crossed after the previous stage's last
     * segment, whose transpose the gradient of the input goes through before it is returned (all-reduced under
     * plain tensor parallelism, as is under sequence parallelism, whose stages exchange sequence shards).
     */
    public SegmentedPass(List<Segment> segments, ForwardContext ctx, Hooks hooks, Recompute recompute,
            Communicator partialSums, boolean inputNeedsGradient, boolean endsWithLoss, Segment.Boundary stageInput) {
        this.stageInput = stageInput;
        this.segments = segments;
        this.ctx = ctx;
        this.hooks = hooks;
        this.recompute = recompute;
        this.partialSums = partialSums;
        this.sum = partialSums != null && partialSums.size() > 1;
        this.inputNeedsGradient = inputNeedsGradient;
        this.endsWithLoss = endsWithLoss;
    }

    /**
     * Runs every segment's forward. Returns the loss (last stage), else the activation to hand to the next
     * stage (summed over the tensor-parallel group, detached: the caller may send and close it).
     */
    public PtNDArray forward(PtNDArray input) {
        int n = segments.size();
        outputs = new PtNDArray[n];
        extras = new PtNDArray[n];
        PtNDArray x = input;
        PtNDArray result = null;
        for (int i = 0; i < n; i++) {
            PtNDArray in = i == 0 && !inputNeedsGradient ? x : own(leaf(x));
            inputs.add(in);
            boolean last = i == n - 1;
            boolean drop = recompute == Recompute.ALL || (recompute == Recompute.ALL_BUT_LAST && !last)
                    || (recompute == Recompute.ALL_BUT_LAST && last && !endsWithLoss);
            hooks.beforeForward(i, false);
            if (!drop) {
                outputs[i] = own(forward(i, in));
                PtNDArray extra = ctx.moe() == null ? null : ctx.moe().takeLoss();
                if (extra != null) {
                    extras[i] = own(extra);
                }
                x = handOn(outputs[i], last, segments.get(i).boundary());
                if (last) {
                    result = x;
                }
            } else {
                // Every tensor of this forward lives in its own scope: closing it frees the segment's graph
                // and activations at once; only a detached copy of the output survives as the next input.
                PtNDArray kept;
                try (NDScope segmentScope = new NDScope()) {
                    PtNDArray out = forward(i, in);
                    if (ctx.moe() != null) {
                        ctx.moe().takeLoss(); // added again by the recomputed forward before backward
                    }
                    if (segments.get(i) instanceof Segment.Custom custom) {
                        custom.discard(); // run again before its backward
                    }
                    if (last && endsWithLoss) {
                        loss = out.getFloat();
                        kept = null;
                    } else {
                        kept = handOn(out, false, segments.get(i).boundary());
                        NDScope.unregister(kept);
                    }
                }
                if (kept != null) {
                    x = own(kept);
                    if (last) {
                        result = JniUtils.clone(kept); // the caller's copy, in its scope
                    }
                }
            }
            hooks.afterForward(i, false);
        }
        if (endsWithLoss) {
            if (outputs[n - 1] != null) {
                loss = outputs[n - 1].getFloat();
            }
            if (ctx.reportedLoss() != null) {
                loss = ctx.reportedLoss(); // the last segment returned a surrogate with the loss's gradient
            }
        }
        return result;
    }

    /** The loss of a chain that ends with it, after {@link #forward}. */
    public float loss() {
        return loss;
    }

    /**
     * Runs every segment's backward from {@code upstream} (the loss scale, or the gradient of this stage's output
     * received from the next stage). Returns the gradient of the chain's input when it needs one (through the
     * transpose of the stage boundary: summed over the tensor-parallel group, or this rank's sequence shard's), else
     * null.
     */
    public PtNDArray backward(PtNDArray upstream) {
        int n = segments.size();
        boolean temporary = false; // upstream is a copy made by a sequence-parallel collective: free it once used
        for (int i = n - 1; i >= 0; i--) {
            NDScope segmentScope = outputs[i] == null ? new NDScope() : null;
            try {
                PtNDArray out = outputs[i];
                PtNDArray extra = extras[i];
                if (out == null) {
                    hooks.beforeForward(i, true);
                    if (ctx.moe() != null) {
                        ctx.moe().recording(false);
                    }
                    try {
                        out = forward(i, inputs.get(i));
                    } finally {
                        if (ctx.moe() != null) {
                            ctx.moe().recording(true);
                            extra = ctx.moe().takeLoss();
                        }
                    }
                    hooks.afterForward(i, true);
                }
                if (segments.get(i) instanceof Segment.Custom custom) {
                    custom.backward(upstream, ctx);
                } else if (i == 0 && !inputNeedsGradient && allFrozen(segments.get(0))) {
                    // nothing to differentiate: the chain's input needs no gradient and every parameter the first
                    // segment reads is frozen (fine-tuning: a frozen embedding); libtorch would refuse the backward
                } else if (extra == null) {
                    JniUtils.backward(out, upstream, false, false);
                } else {
                    // the segment also adds an auxiliary loss (MoE): one backward of
                    // sum(out * upstream) + extra is the vector-Jacobian product of both outputs
                    backwardWithExtra(out, upstream, extra);
                }
                if (temporary) {
                    upstream.close();
                }
                hooks.afterBackward(i);
            } finally {
                if (segmentScope != null) {
                    segmentScope.close(); // the recomputed graph is done with
                }
            }
            if (i > 0 || inputNeedsGradient) {
                Segment.Boundary crossed = i > 0 ? segments.get(i - 1).boundary() : stageInput;
                PtNDArray grad = JniUtils.getGradient(inputs.get(i));
                upstream = gradientAcross(grad, crossed);
                temporary = upstream != grad;
                if (temporary) {
                    grad.close(); // a handle only: the gradient itself belongs to the leaf
                }
            }
        }
        return inputNeedsGradient ? upstream : null;
    }

    private static boolean allFrozen(Segment s) {
        return s.parameters().stream().allMatch(Parameter::frozen);
    }

    private void backwardWithExtra(PtNDArray out, PtNDArray upstream, PtNDArray extra) {
        JniUtils.setGradMode(true);
        PtNDArray total;
        try {
            total = Ops.add(Ops.sum(Ops.mul(out, JniUtils.detachGradient(upstream))), extra);
        } finally {
            JniUtils.setGradMode(false);
        }
        JniUtils.backward(total, Ops.scalar(ctx.manager(), 1f), false, false);
    }

    /** Releases the tensors kept between forward and backward. */
    public void close() {
        for (PtNDArray t : owned) {
            t.close();
        }
        owned.clear();
    }

    /**
     * What a segment's output becomes as the next input (not the loss): detached, after its boundary's collective
     * (see {@link TensorParallelBoundaries}).
     */
    private PtNDArray handOn(PtNDArray out, boolean last, Segment.Boundary boundary) {
        if (last && endsWithLoss) {
            return out;
        }
        PtNDArray x = JniUtils.detachGradient(out);
        if (!sum) {
            return x;
        }
        return switch (boundary) {
            case ALL_REDUCE -> copyToRegion(reduceFromRegion(x, partialSums)); // Megatron's g, then f
            case ALL_GATHER_T -> gatherFromSequence(x, partialSums);
            case REDUCE_SCATTER_T -> reduceScatterToSequence(x, partialSums);
            case NONE -> x;
        };
    }

    /** The gradient of a segment's input through the transpose of the boundary it crossed (in place when it can). */
    private PtNDArray gradientAcross(PtNDArray grad, Segment.Boundary boundary) {
        if (!sum) {
            return grad;
        }
        return switch (boundary) {
            case ALL_REDUCE -> reduceFromRegionBackward(copyToRegionBackward(grad, partialSums));
            case ALL_GATHER_T -> gatherFromSequenceBackward(grad, partialSums);
            case REDUCE_SCATTER_T -> reduceScatterToSequenceBackward(grad, partialSums);
            case NONE -> grad;
        };
    }

    /** Segment i's forward on {@code in}, with the input of the segment it skips back to if it has a residual. */
    private PtNDArray forward(int i, PtNDArray in) {
        Segment s = segments.get(i);
        int back = s.skipBack();
        if (back == 0) {
            return forward(s, in, ctx);
        }
        if (back > i || (i - back == 0 && !inputNeedsGradient)) {
            throw new IllegalStateException("segment " + s.name() + " skips back " + back + " segments to no leaf input");
        }
        PtNDArray skip = inputs.get(i - back);
        JniUtils.setGradMode(true);
        try {
            return s.forward(in, skip, ctx);
        } finally {
            JniUtils.setGradMode(false);
        }
    }

    private PtNDArray own(PtNDArray t) {
        NDScope.unregister(t);
        owned.add(t);
        return t;
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
        JniUtils.attachGradient(d, true);
        return d;
    }
}
