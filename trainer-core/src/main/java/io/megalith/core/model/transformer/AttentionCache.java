package io.megalith.core.model.transformer;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * Keys and values [B, H, T, hs] of one attention layer kept across decoding steps: a self-attention's grow by
 * the new positions at every step; a cross-attention's are computed once from the encoder output and reused.
 * The tensors live in the owner's manager and outlive each step's scope; replaced ones are closed.
 */
public final class AttentionCache {
    private final NDManager manager;
    private PtNDArray keys;
    private PtNDArray values;

    public AttentionCache(NDManager manager) {
        this.manager = manager;
    }

    public boolean isEmpty() {
        return keys == null;
    }

    /** Cached positions. */
    public long length() {
        return keys == null ? 0 : keys.getShape().get(2);
    }

    public PtNDArray keys() {
        return keys;
    }

    public PtNDArray values() {
        return values;
    }

    /** Appends k, v [B, H, t, hs] and returns the full (past + new) pair. */
    public PtNDArray[] append(PtNDArray k, PtNDArray v) {
        if (keys == null) {
            return replace(Ops.cat(new PtNDArray[] {k}, 2), Ops.cat(new PtNDArray[] {v}, 2));
        }
        return replace(Ops.cat(new PtNDArray[] {keys, k}, 2), Ops.cat(new PtNDArray[] {values, v}, 2));
    }

    /** Stores k, v as they are (cross-attention: computed once). */
    public PtNDArray[] set(PtNDArray k, PtNDArray v) {
        return replace(Ops.cat(new PtNDArray[] {k}, 2), Ops.cat(new PtNDArray[] {v}, 2));
    }

    /** Keeps rows {@code rows} of the batch, in that order (beam search: the surviving beams' parents). */
    public void reorder(long[] rows) {
        if (keys != null) {
            replace(Ops.selectRows(keys, rows), Ops.selectRows(values, rows));
        }
    }

    private PtNDArray[] replace(PtNDArray k, PtNDArray v) {
        NDScope.unregister(k, v);
        k.attach(manager);
        v.attach(manager);
        if (keys != null) {
            keys.close();
            values.close();
        }
        keys = k;
        values = v;
        return new PtNDArray[] {k, v};
    }

    public void clear() {
        if (keys != null) {
            keys.close();
            values.close();
        }
        keys = null;
        values = null;
    }
}
