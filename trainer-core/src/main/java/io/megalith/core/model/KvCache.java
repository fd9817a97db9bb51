package io.megalith.core.model;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.transformer.AttentionCache;

/**
 * Keys and values of past positions, per layer, for incremental decoding. Each layer holds
 * [B, H, T_past, hs] tensors ({@link AttentionCache}); appending concatenates along time. The cache owns its
 * tensors (they outlive the scope of one decoding step) and closes replaced ones.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final AttentionCache[] layers;
    private long length;

    /** A cache for {@code layers} layers whose tensors live in a sub-manager of {@code parent}. */
    public KvCache(int layers, NDManager parent) {
        this.manager = parent.newSubManager();
        this.layers = new AttentionCache[layers];
        for (int i = 0; i < layers; i++) {
            this.layers[i] = new AttentionCache(manager);
        }
    }

    /** Number of cached positions. */
    public long length() {
        return length;
    }

    /** The keys and values of layer {@code layer}, which its self-attention appends to. */
    AttentionCache layer(int layer) {
        return layers[layer];
    }

    /** Called once all layers have appended a step of {@code steps} positions. */
    void advance(long steps) {
        length += steps;
    }

    @Override
    public void close() {
        for (AttentionCache c : layers) {
            c.clear();
        }
        length = 0;
        manager.close();
    }
}
