package io.megalith.core.tensorparallel;

import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.core.tensor.Ops;

/**
 * Megatron's sequence-parallel collectives on activations [B, T, C] split along the sequence dimension T over
 * the tensor-parallel group: rank r holds positions [r T/tp, (r+1) T/tp). The communicator works on flat buffers,
 * whose rank parts are consecutive; T is not the outermost dimension, so each direction costs one reordering
 * copy ([tp, B, T/tp, C] <-> [B, T, C]), none when B = 1. Results carry no autograd graph (they cross a segment
 * boundary).
 */
public final class SequenceParallel {
    private SequenceParallel() {}

    /** The full [B, T, C] from every rank's shard [B, T/tp, C] (all-gather along T). */
    public static PtNDArray gather(PtNDArray shard, Communicator tp) {
        long[] s = shard.getShape().getShape();
        int n = tp.size();
        PtNDArray parts = JniUtils.createEmptyNdArray(shard.getManager(), new Shape(n, s[0], s[1], s[2]),
                DataType.FLOAT32, shard.getDevice(), SparseFormat.DENSE);
        tp.allGather(Ops.bytes(shard, true), Ops.bytes(parts, true), ElementType.F32);
        // [tp, B, T/tp, C] -> [B, tp, T/tp, C] -> [B, T, C]: reshape copies the permuted layout once
        PtNDArray permuted = Ops.permute(parts, 1, 0, 2, 3);
        PtNDArray full = Ops.reshape(permuted, s[0], n * s[1], s[2]);
        permuted.close(); // the receive buffer is freed now, not when the step's scope closes (B = 1: full keeps it)
        parts.close();
        return full;
    }

    /** This rank's shard [B, T/tp, C] of the sum over the group of partial sums [B, T, C] (reduce-scatter along T). */
    public static PtNDArray scatter(PtNDArray partial, Communicator tp) {
        long[] s = partial.getShape().getShape();
        int n = tp.size();
        long local = s[1] / n;
        // [B, T, C] -> [B, tp, T/tp, C] -> [tp, B, T/tp, C], flattened: one copy into rank-major order
        PtNDArray split = Ops.reshape(partial, s[0], n, local, s[2]);
        PtNDArray permuted = Ops.permute(split, 1, 0, 2, 3);
        PtNDArray ordered = Ops.reshape(permuted, -1);
        PtNDArray out = JniUtils.createEmptyNdArray(partial.getManager(), new Shape(s[0], local, s[2]),
                DataType.FLOAT32, partial.getDevice(), SparseFormat.DENSE);
        tp.reduceScatter(Ops.bytes(ordered, true), Ops.bytes(out, true), ElementType.F32, ReduceOp.SUM);
        ordered.close(); // the send copy is freed now, not when the step's scope closes
        permuted.close();
        split.close();
        return out;
    }

    /** First position of this rank's shard of a sequence of {@code t} positions. */
    public static long shardStart(long t, TpLayout tp) {
        return t * tp.rank() / tp.size();
    }

    /** Rejects a sequence length the group cannot split evenly, naming the setting. */
    public static void checkDivisible(long t, int tp) {
        if (t % tp != 0) {
            throw new IllegalArgumentException("sequence parallelism: sequence length " + t + " is not divisible by "
                    + "parallel.tp " + tp + "; choose model.block_size (and the batch's sequence length) divisible by tp");
        }
    }
}
