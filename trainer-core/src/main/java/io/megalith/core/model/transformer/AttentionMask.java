package io.megalith.core.model.transformer;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * Additive attention biases: 0 where a query may attend to a key, {@link #BLOCKED} where it may not, added to
 * the scores before the softmax. BLOCKED is finite (not -inf) so that a row with every key blocked (a
 * sequence made only of padding) gives a uniform softmax instead of NaN; exp(BLOCKED - max) underflows to
 * exactly 0 in float32, so a blocked key has exactly zero weight whenever any key is allowed.
 */
public final class AttentionMask {
    public static final float BLOCKED = -1e9f;

    private AttentionMask() {}

    /** Padding bias [B, 1, 1, T] from ids [B*T] (row-major): keys equal to {@code padId} are blocked. */
    public static PtNDArray padding(NDManager m, long[] ids, int batch, int t, long padId) {
        float[] bias = new float[batch * t];
        for (int i = 0; i < bias.length; i++) {
            bias[i] = ids[i] == padId ? BLOCKED : 0f;
        }
        return Ops.floats(m, bias, batch, 1, 1, t);
    }

    /** Causal bias [T, T]: query i may attend to keys 0..i. */
    public static PtNDArray causal(NDManager m, int t) {
        float[] bias = new float[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = i + 1; j < t; j++) {
                bias[i * t + j] = BLOCKED;
            }
        }
        return Ops.floats(m, bias, t, t);
    }

    /** Whether any id is padding (no padding: no bias tensor needed). */
    public static boolean hasPadding(long[] ids, long padId) {
        for (long id : ids) {
            if (id == padId) {
                return true;
            }
        }
        return false;
    }
}
