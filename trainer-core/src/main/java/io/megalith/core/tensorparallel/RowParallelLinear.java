package io.megalith.core.tensorparallel;

import io.megalith.core.nn.Linear;

/**
 * Megatron's row-parallel linear: Y = X A with A split by rows (the input features), so rank i multiplies its slice
 * of the input, Y_i = X_i A_i, a partial sum of Y = sum_i X_i A_i. Forward all-reduce of the partial sums, backward
 * identity (dY reaches every term whole): the collective runs at the segment boundary after the layer
 * ({@link TensorParallelBoundaries#reduceFromRegion}, or a reduce-scatter along the sequence under sequence
 * parallelism). Its bias is replicated and added as b/tp on every rank, so that the sum carries it once (its
 * gradient is PARTIAL, summed over the group).
 */
public final class RowParallelLinear {
    private RowParallelLinear() {}

    /**
     * The slice of a [out, in] linear keeping input features {@code inRange} (full coordinates), for
     * {@link Linear#parallelize}.
     */
    public static Linear.Slice slice(long[] inRange, TpLayout tp) {
        return new Linear.Slice(1, new long[][] {inRange}, tp.size());
    }
}
