package io.megalith.core.tensorparallel;

import io.megalith.core.nn.Linear;

/**
 * Megatron's column-parallel linear: Y = X A with A split by columns (the output features), so rank i computes its
 * output slice Y_i = X A_i from the whole input X. Forward identity on X (every rank reads all of it), backward
 * all-reduce of X's gradient (rank i's dY_i A_i^T is one term of dX = sum_i dY_i A_i^T): the collectives run at the
 * segment boundary before the layer ({@link TensorParallelBoundaries#copyToRegion}, or an all-gather along the
 * sequence under sequence parallelism). Its bias is sliced with the outputs.
 */
public final class ColumnParallelLinear {
    private ColumnParallelLinear() {}

    /**
     * The slice of a [out, in] linear keeping output features {@code outRanges} (full coordinates, e.g. this rank's
     * heads of q, k and v), for {@link Linear#parallelize}.
     */
    public static Linear.Slice slice(long[][] outRanges, TpLayout tp) {
        return new Linear.Slice(0, outRanges, tp.size());
    }
}
