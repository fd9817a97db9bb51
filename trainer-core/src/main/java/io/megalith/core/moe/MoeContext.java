package io.megalith.core.moe;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.AuxiliaryLosses;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;

/**
 * What MoE layers of one forward pass hand to the training loop besides their output: their auxiliary losses
 * (load balancing and router z-loss, already multiplied by their coefficients and weights) as a scalar in the
 * autograd graph, which the segment runner adds to the segment's backward, and routing statistics for the metrics.
 *
 * <p>Weights: the losses are means per sequence; {@code sequenceWeight} is the weight of one sequence of this pass
 * in the step's total, 1 / (sequences in the step's global batch), so that the contributions of every micro-batch,
 * worker and rank add up to the mean over the global batch whatever the layout.
 */
public final class MoeContext implements AuxiliaryLosses {
    private final double sequenceWeight;
    private final MoeStats stats;
    private PtNDArray pending;
    private boolean recording = true;

    public MoeContext(double sequenceWeight, MoeStats stats) {
        this.sequenceWeight = sequenceWeight;
        this.stats = stats;
    }

    /** The MoE context of a forward pass, or null when it has none (inference, or a sink of another kind). */
    public static MoeContext of(ForwardContext ctx) {
        return ctx.moe() instanceof MoeContext moe ? moe : null;
    }

    public double sequenceWeight() {
        return sequenceWeight;
    }

    /** Recomputed forwards (activation checkpointing) add their losses again but not their statistics. */
    @Override
    public void recording(boolean on) {
        this.recording = on;
    }

    void record(int moeLayer, Routing r, double auxSum, double zSum) {
        if (recording && stats != null) {
            stats.add(moeLayer, r, auxSum, zSum);
        }
    }

    @Override
    public void addLoss(PtNDArray loss) {
        pending = pending == null ? loss : Ops.add(pending, loss);
    }

    @Override
    public PtNDArray takeLoss() {
        PtNDArray l = pending;
        pending = null;
        return l;
    }
}
