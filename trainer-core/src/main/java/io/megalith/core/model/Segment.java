package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import java.util.List;

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
    List<io.megalith.core.nn.Parameter> parameters();

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

    /** A segment from a name, a function and its parameters. */
    static Segment of(String name, List<Parameter> params, java.util.function.BiFunction<PtNDArray, ForwardContext, PtNDArray> f) {
        return new Segment() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public PtNDArray forward(PtNDArray input, ForwardContext ctx) {
                return f.apply(input, ctx);
            }

            @Override
            public List<Parameter> parameters() {
                return params;
            }
        };
    }
}
