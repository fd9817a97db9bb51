package io.megalith.core.nn;

import io.megalith.core.tensor.CounterRng;
import java.util.Arrays;

/** How a parameter starts. Values are a pure function of (seed, parameter name, element index). */
public sealed interface Init {
    record Normal(double std) implements Init {}

    record Constant(float value) implements Init {}

    static Init normal(double std) {
        return new Normal(std);
    }

    static Init zeros() {
        return new Constant(0f);
    }

    static Init ones() {
        return new Constant(1f);
    }

    /**
     * Fills {@code out} with the elements of a shard of the full parameter {@code name} of shape
     * {@code fullShape}: the shard takes, along dimension {@code dim}, the index ranges {@code ranges}
     * ([from, to) pairs, concatenated in order) and everything along the other dimensions. Every rank of a
     * tensor-parallel group thus initialises exactly its slice of the one-rank tensor.
     */
    default void fillShard(long seed, String name, long[] fullShape, int dim, long[][] ranges, float[] out) {
        long inner = 1; // elements per step along dim
        for (int d = dim + 1; d < fullShape.length; d++) {
            inner *= fullShape[d];
        }
        long outer = 1;
        for (int d = 0; d < dim; d++) {
            outer *= fullShape[d];
        }
        long localDim = 0;
        for (long[] r : ranges) {
            localDim += r[1] - r[0];
        }
        if (outer * localDim * inner != out.length) {
            throw new IllegalArgumentException("shard of " + out.length + " elements does not match its ranges");
        }
        int k = 0;
        float[] run = new float[(int) inner];
        for (long o = 0; o < outer; o++) {
            for (long[] r : ranges) {
                for (long i = r[0]; i < r[1]; i++) {
                    fill(seed, name, (o * fullShape[dim] + i) * inner, run);
                    System.arraycopy(run, 0, out, k, run.length);
                    k += run.length;
                }
            }
        }
    }

    /** Fills {@code out[i]} with element {@code offset + i} of the full parameter named {@code name}. */
    default void fill(long seed, String name, long offset, float[] out) {
        if (this instanceof Normal n) {
            long key = CounterRng.key(seed, name);
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) (n.std() * CounterRng.normal(key, offset + i));
            }
        } else if (this instanceof Constant c) {
            Arrays.fill(out, c.value());
        }
    }
}
