package io.megalith.core.nn;

import ai.djl.pytorch.engine.PtNDArray;

/**
 * Losses that layers of one forward pass add besides the model's output (an MoE layer's load-balancing and router
 * z-losses): scalars in the autograd graph, collected here and taken by the segment runner after each segment's
 * forward, which adds them to that segment's backward. What else a sink keeps (MoE's routing statistics) is its
 * implementation's.
 */
public interface AuxiliaryLosses {
    /** Adds {@code loss} (a scalar in the graph, already weighted) to the pending auxiliary loss. */
    void addLoss(PtNDArray loss);

    /** The auxiliary loss added since the last call (a scalar in the graph), or null. */
    PtNDArray takeLoss();

    /**
     * Off while a segment's forward is recomputed (activation checkpointing): its losses are added again, since the
     * recomputed graph is the one backward runs through, but nothing else is counted twice.
     */
    void recording(boolean on);
}
