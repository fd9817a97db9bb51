package io.megalith.core.segment;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensorparallel.TensorParallelBoundaries;
import java.util.List;
import java.util.function.BiFunction;

/**
 * One link of a model seen as a chain (embedding, block 0..L-1, head and loss): the unit of
 * segment-wise execution. Autograd runs per segment and the gradient of a segment's input becomes the
 * upstream gradient of the segment before it; between segments a runner may communicate (tensor and
 * pipeline parallelism), gather or release parameters (ZeRO-3), start reducing the gradients a
 * segment has finished (overlapped data parallelism), or drop activations to recompute them
 * (activation checkpointing).
 */
public interface Segment {
    /** A readable name, e.g. {@code blocks.3}. */
    String name();

    /** The segment's computation: token ids or hidden states in, hidden states or the loss out. */
    PtNDArray forward(PtNDArray input, ForwardContext ctx);

    /** The parameters this segment reads (its gradients are complete after its backward). */
    List<Parameter> parameters();

    /**
     * A segment that runs its own backward because something happens inside it between autograd regions (the
     * all-to-alls of expert parallelism). Its forward returns its output; {@link #backward} gets d loss / d output
     * and must leave d loss / d input in the gradient of the input leaf it was given, for the last forward it ran
     * (one forward is pending at a time). Recomputation (activation checkpointing, ZeRO-3) runs its forward, then
     * {@link #discard()}s it, and runs it again just before its backward.
     */
    interface Custom extends Segment {
        void backward(PtNDArray upstream, ForwardContext ctx);

        /** Forgets the pending forward (its tensors are being freed). */
        void discard();
    }

    /**
     * What crosses the boundary after this segment, over the tensor-parallel group (nothing with a group of one),
     * forward and (transposed) backward: Megatron's conjugate pairs, in {@link TensorParallelBoundaries}:
     * <ul>
     *   <li>{@code ALL_REDUCE}: the output is a partial sum; all-reduce forward, all-reduce the input gradient of
     *       the next segment backward (plain tensor parallelism: g then f at every boundary,
     *       {@code reduceFromRegion} and {@code copyToRegion});
     *   <li>{@code ALL_GATHER_T}: the output is this rank's shard of the sequence [B, T/tp, C]; all-gather along T
     *       forward, reduce-scatter along T backward (sequence parallelism, entering a tensor-parallel region:
     *       {@code gatherFromSequence});
     *   <li>{@code REDUCE_SCATTER_T}: the output is a partial sum [B, T, C]; reduce-scatter along T forward,
     *       all-gather along T backward (sequence parallelism, leaving a tensor-parallel region:
     *       {@code reduceScatterToSequence});
     *   <li>{@code NONE}: the output is complete as it is; identity both ways.
     * </ul>
     */
    enum Boundary { ALL_REDUCE, ALL_GATHER_T, REDUCE_SCATTER_T, NONE }

    /** What crosses the boundary after this segment (see {@link Boundary}). */
    default Boundary boundary() {
        return Boundary.ALL_REDUCE;
    }

    /**
     * A residual connection: this segment also reads the input of the segment {@code skipBack()} places before
     * it (0: none). That input is a leaf, so this segment's backward accumulates into its gradient before the
     * earlier segment's own backward adds the rest.
     */
    default int skipBack() {
        return 0;
    }

    /** The computation of a segment with a residual connection: {@code skip} is the earlier segment's input. */
    default PtNDArray forward(PtNDArray input, PtNDArray skip, ForwardContext ctx) {
        return forward(input, ctx);
    }

    /** The function of a segment with a residual connection. */
    interface SkipFunction {
        PtNDArray apply(PtNDArray input, PtNDArray skip, ForwardContext ctx);
    }

    /**
     * A segment followed by {@code boundary}, reading also the input of the segment {@code skipBack} before it
     * (0: none; {@code f} then gets null for it).
     */
    static Segment of(String name, List<Parameter> params, Boundary boundary, int skipBack, SkipFunction f) {
        return new Segment() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public PtNDArray forward(PtNDArray input, ForwardContext ctx) {
                return f.apply(input, null, ctx);
            }

            @Override
            public PtNDArray forward(PtNDArray input, PtNDArray skip, ForwardContext ctx) {
                return f.apply(input, skip, ctx);
            }

            @Override
            public List<Parameter> parameters() {
                return params;
            }

            @Override
            public Boundary boundary() {
                return boundary;
            }

            @Override
            public int skipBack() {
                return skipBack;
            }
        };
    }

    /** A segment from a name, a function and its parameters (all-reduce boundary, no residual skip). */
    static Segment of(String name, List<Parameter> params, BiFunction<PtNDArray, ForwardContext, PtNDArray> f) {
        return of(name, params, Boundary.ALL_REDUCE, 0, (input, skip, ctx) -> f.apply(input, ctx));
    }
}
