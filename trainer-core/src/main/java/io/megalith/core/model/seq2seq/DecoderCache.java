package io.megalith.core.model.seq2seq;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.transformer.AttentionCache;

/**
 * What incremental decoding keeps per decoder layer: the self-attention's keys and values (one more position
 * per step) and the cross-attention's (computed from the encoder output at the first step, then reused).
 * Owns its tensors in a sub-manager of the given parent.
 */
public final class DecoderCache implements AutoCloseable {
    private final NDManager manager;
    private final AttentionCache[] self;
    private final AttentionCache[] cross;
    private long length;

    public DecoderCache(int layers, NDManager parent) {
        this.manager = parent.newSubManager();
        this.self = new AttentionCache[layers];
        this.cross = new AttentionCache[layers];
        for (int i = 0; i < layers; i++) {
            self[i] = new AttentionCache(manager);
            cross[i] = new AttentionCache(manager);
        }
    }

    public long length() {
        return length;
    }

    AttentionCache self(int layer) {
        return self[layer];
    }

    AttentionCache cross(int layer) {
        return cross[layer];
    }

    void advance(long t) {
        length += t;
    }

    /** Keeps batch rows {@code rows} in that order (beam search); cross-attention keys and values too. */
    public void reorder(long[] rows) {
        for (int i = 0; i < self.length; i++) {
            self[i].reorder(rows);
            cross[i].reorder(rows);
        }
    }

    /** Whether the cross-attention keys and values have been computed (they are, after the first step). */
    public boolean crossReady() {
        return self.length == 0 || !cross[0].isEmpty();
    }

    @Override
    public void close() {
        for (int i = 0; i < self.length; i++) {
            self[i].clear();
            cross[i].clear();
        }
        manager.close();
    }
}
