package io.megalith.core.tensorparallel;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.core.tensor.Ops;

/**
 * The collectives where activations enter and leave a tensor-parallel region, over the tensor-parallel group, with
 * Megatron's names. Megatron writes each as one autograd function; DJL has no user-defined autograd functions, so
 * here each is a pair: the function applied to the activation in forward and its transpose ({@code ...Backward})
 * applied to the activation's gradient in backward. The segment runner calls them at segment boundaries (the
 * boundary after a segment says which), on tensors without an autograd graph.
 *
 * <p>Plain tensor parallelism carries the residual stream as partial sums, so every boundary leaves one region and
 * enters the next: {@link #reduceFromRegion} then {@link #copyToRegion}, all-reduce both ways. Sequence parallelism
 * splits the activations between regions along the sequence T instead: {@link #reduceScatterToSequence} on leaving a
 * region, {@link #gatherFromSequence} on entering one (an all-reduce is a reduce-scatter plus an all-gather, so the
 * same bytes cross).
 */
public final class TensorParallelBoundaries {
    private TensorParallelBoundaries() {}

    /**
     * Megatron's f ({@code copy_to_tensor_model_parallel_region}), entering a region whose every rank reads the whole
     * input: forward identity.
     */
    public static PtNDArray copyToRegion(PtNDArray x) {
        return x;
    }

    /**
     * Transpose of {@link #copyToRegion}: backward all-reduce, since each rank's input gradient is a partial sum
     * (over its slice of the region's columns). In place: returns {@code grad}, summed.
     */
    public static PtNDArray copyToRegionBackward(PtNDArray grad, Communicator tp) {
        allReduce(grad, tp);
        return grad;
    }

    /**
     * Megatron's g ({@code reduce_from_tensor_model_parallel_region}), leaving a region whose every rank holds a
     * partial sum of the output: forward all-reduce. Returns a summed copy ({@code partial} stays as it is: its
     * segment's backward still needs it).
     */
    public static PtNDArray reduceFromRegion(PtNDArray partial, Communicator tp) {
        PtNDArray copy = JniUtils.clone(partial);
        allReduce(copy, tp);
        return copy;
    }

    /** Transpose of {@link #reduceFromRegion}: backward identity (the gradient of a sum reaches every term whole). */
    public static PtNDArray reduceFromRegionBackward(PtNDArray grad) {
        return grad;
    }

    /**
     * Megatron's {@code gather_from_sequence_parallel_region}, entering a region under sequence parallelism: forward
     * all-gather along T, this rank's shard [B, T/tp, C] -> the whole [B, T, C].
     */
    public static PtNDArray gatherFromSequence(PtNDArray shard, Communicator tp) {
        return SequenceParallel.gather(shard, tp);
    }

    /**
     * Transpose of {@link #gatherFromSequence}: backward reduce-scatter along T, since each rank's gradient of the
     * whole sequence is a partial sum; this rank keeps its positions' sum. Returns a new tensor.
     */
    public static PtNDArray gatherFromSequenceBackward(PtNDArray grad, Communicator tp) {
        return SequenceParallel.scatter(grad, tp);
    }

    /**
     * Megatron's {@code reduce_scatter_to_sequence_parallel_region}, leaving a region under sequence parallelism:
     * forward reduce-scatter along T, partial sums [B, T, C] -> this rank's shard [B, T/tp, C] of their sum.
     */
    public static PtNDArray reduceScatterToSequence(PtNDArray partial, Communicator tp) {
        return SequenceParallel.scatter(partial, tp);
    }

    /**
     * Transpose of {@link #reduceScatterToSequence}: backward all-gather along T (every rank's partial sum needs the
     * gradient of every position). Returns a new tensor.
     */
    public static PtNDArray reduceScatterToSequenceBackward(PtNDArray grad, Communicator tp) {
        return SequenceParallel.gather(grad, tp);
    }

    private static void allReduce(PtNDArray x, Communicator tp) {
        tp.allReduce(Ops.bytes(x, true), ElementType.F32, ReduceOp.SUM);
    }
}
