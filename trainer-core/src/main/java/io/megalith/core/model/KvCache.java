package io.megalith.core.model;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * Keys and values of past positions, per layer, for incremental decoding. Each layer holds
 * [B, H, T_past, hs] tensors; appending concatenates along time. The cache owns its tensors
 * (they outlive the scope of one decoding step) and closes replaced ones.
 */
public final class KvCache implements AutoCloseable {
    private final PtNDArray[] keys;
    private final PtNDArray[] values;
    private long length;

    public KvCache(int layers) {
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
        // The results belong to the step's manager (that of k, v): a caller that closes a per-step
        // manager (as the generator does) would free the cache under us. Detach them: the cache owns them.
        NDScope.unregister(fullK, fullV);
        fullK.detach();
        fullV.detach();
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
    }
}
