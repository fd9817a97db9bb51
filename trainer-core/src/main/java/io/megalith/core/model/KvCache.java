package io.megalith.core.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * Keys and values of past positions, per layer, for incremental decoding. Each layer holds
 * [B, H, T_past, hs] tensors; appending concatenates along time. The cache owns its tensors
 * (they outlive the scope of one decoding step) and closes replaced ones.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final PtNDArray[] keys;
    private final PtNDArray[] values;
    private long length;

    /** A cache for {@code layers} layers whose tensors live in a sub-manager of {@code parent}. */
    public KvCache(int layers, NDManager parent) {
        this.manager = parent.newSubManager();
        this.keys = new PtNDArray[layers];
        this.values = new PtNDArray[layers];
    }

    /** Number of cached positions. */
    public long length() {
        return length;
    }

    /** Appends this step's k, v of {@code layer} and returns the full (past + new) pair. */
    PtNDArray[] append(int layer, PtNDArray k, PtNDArray v) {
        PtNDArray fullK = keys[layer] == null ? Ops.cat(new PtNDArray[] {k}, 2) : Ops.cat(new PtNDArray[] {keys[layer], k}, 2);
        PtNDArray fullV = values[layer] == null ? Ops.cat(new PtNDArray[] {v}, 2) : Ops.cat(new PtNDArray[] {values[layer], v}, 2);
        // they outlive this decoding step's scope and manager
        NDScope.unregister(fullK, fullV);
        fullK.attach(manager);
        fullV.attach(manager);
        if (keys[layer] != null) {
            keys[layer].close();
            values[layer].close();
        }
        keys[layer] = fullK;
        values[layer] = fullV;
        return new PtNDArray[] {fullK, fullV};
    }

    /** Called once all layers have appended a step of {@code steps} positions. */
    void advance(long steps) {
        length += steps;
    }

    @Override
    public void close() {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i].close();
                values[i].close();
                keys[i] = null;
                values[i] = null;
            }
        }
        length = 0;
        manager.close();
    }
}
