package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.SoftTargets;
import io.megalith.core.model.Targets;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Vit} as one rank runs it after {@link VitPlan#apply}: its segment chain for
 * {@link io.megalith.core.segment.SegmentedPass} (input: {@link Vit#pixels}), which with {@link Placement#SINGLE}
 * computes exactly {@link Vit#loss}. Under tensor parallelism:
 * <pre>
 *   embed      patch embedding, [CLS], positions, dropout: complete, the same on every rank   (no collective)
 *   layers.i.k TransformerPlan.halves: attention, feed-forward (partial sums)                  -all-reduce->
 *   head       ln_f, pooling, classifier, loss on complete activations                         (the loss)
 * </pre>
 * The embed segment's output gradient arrives as this rank's partial sum (the first half's residual share and its
 * heads' term), and the head's loss counts 1/tp per rank, so the replicated parameters' gradients are partial sums,
 * summed over the group as PARTIAL.
 */
public final class ParallelVit {
    private final Vit vit;
    private final Placement placement;
    private final TpLayout tp;

    ParallelVit(Vit vit, Placement placement) {
        this.vit = vit;
        this.placement = placement;
        this.tp = placement.tp();
    }

    /** This rank's part of the model (the one-rank model under {@link Placement#SINGLE}). */
    public Vit model() {
        return vit;
    }

    public Placement placement() {
        return placement;
    }

    /**
     * {@code weight} times the mean cross-entropy of {@code labels} as a segment chain. Null labels give the chain's
     * shape only (its parameters per segment, for gradient buckets).
     */
    public List<Segment> segments(long[] labels, NDManager m, float weight) {
        return segments(labels, null, m, weight);
    }

    /**
     * The same with a teacher's soft targets for these images (distillation: alpha T^2 KL + (1 - alpha) cross-entropy,
     * {@link SoftTargets}), or null for the cross-entropy alone. The logits are complete on every rank, so the soft
     * loss is too.
     */
    public List<Segment> segments(long[] labels, SoftTargets soft, NDManager m, float weight) {
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        List<Segment> out = new ArrayList<>(ImageEncoderPlan.segments(vit.encoder(), tp, share));
        out.add(Segment.of("head", vit.headParameters(), Segment.Boundary.NONE, 0, (x, skip, ctx) -> {
            PtNDArray logits = vit.headLogits(x);
            PtNDArray loss = soft == null ? Vit.crossEntropy(logits, labels, ctx)
                    : soft.loss(logits, Targets.of(ctx.manager(), labels));
            if (weight != 1f) {
                loss = Ops.mul(loss, Ops.scalar(ctx.manager(), weight));
            }
            if (!tp.parallel()) {
                return loss;
            }
            // every rank computes the same loss: report it, and let each carry 1/tp of its gradient
            ctx.reportLoss(loss.getFloat());
            return Ops.mul(loss, share);
        }));
        return out;
    }
}
