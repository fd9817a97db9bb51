package io.megalith.core.nn;

import io.megalith.core.tensor.CounterRng;

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

    /** Fills {@code out[i]} with element {@code offset + i} of the full parameter named {@code name}. */
    default void fill(long seed, String name, long offset, float[] out) {
        if (this instanceof Normal n) {
            long key = CounterRng.key(seed, name);
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) (n.std() * CounterRng.normal(key, offset + i));
            }
        } else if (this instanceof Constant c) {
            java.util.Arrays.fill(out, c.value());
        }
    }
}
