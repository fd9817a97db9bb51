package io.megalith.core.parallelize;

import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * How a {@link Vit} is split over a tensor-parallel group, in place before its storage is bound: every layer as
 * {@link TransformerPlan#layer} (attention column/row-parallel by heads, feed-forward by hidden units, norms
 * PARTIAL), as in the text families; the patch embedding, [CLS], positions, ln_f and the head replicated and PARTIAL
 * (each rank computes them whole on complete activations, and sees part of their gradient). No pipeline, sequence or
 * expert parallelism.
 */
public final class VitPlan {
    private VitPlan() {}

    /** Applies the plan for {@code placement} to {@code vit} (in place) and returns the model as this rank runs it. */
    public static ParallelVit apply(Vit vit, Placement placement) {
        if (placement.pp().size() > 1 || placement.sequenceParallel() || placement.expertParallel() != null) {
            throw new IllegalArgumentException("the ViT runs data and tensor parallelism only (no pipeline, sequence "
                    + "or expert parallelism)");
        }
        TpLayout tp = placement.tp();
        TransformerPlan.checkHeads(vit.config().nHead(), tp);
        if (tp.parallel()) {
            if (vit.patchEmbed().weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
                throw new IllegalArgumentException("a plan applies to the whole one-rank model (not to a rank's part)");
            }
            for (TransformerLayer layer : vit.layers()) {
                TransformerPlan.layer(layer, tp);
            }
            vit.lnF().markPartial();
            for (Parameter p : vit.embeddingParameters()) {
                p.shard(Parameter.Sharding.PARTIAL);
            }
            for (Parameter p : vit.head().parameters()) {
                p.shard(Parameter.Sharding.PARTIAL);
            }
        }
        return new ParallelVit(vit, placement);
    }
}
