package io.megalith.core.parallelize;

import io.megalith.core.model.vit.Vit;
import io.megalith.core.nn.Parameter;

/**
 * How a {@link Vit} is split over a tensor-parallel group, in place before its storage is bound: its trunk as
 * {@link ImageEncoderPlan} (layers split by heads and hidden units, as in the text families; embeddings and ln_f
 * replicated and PARTIAL), the head replicated and PARTIAL (each rank computes it whole on complete activations, and
 * sees part of its gradient). No pipeline, sequence or expert parallelism.
 */
public final class VitPlan {
    private VitPlan() {}

    /** Applies the plan for {@code placement} to {@code vit} (in place) and returns the model as this rank runs it. */
    public static ParallelVit apply(Vit vit, Placement placement) {
        if (placement.pp().size() > 1 || placement.sequenceParallel() || placement.expertParallel() != null) {
            throw new IllegalArgumentException("the ViT runs data and tensor parallelism only (no pipeline, sequence "
                    + "or expert parallelism)");
        }
        ImageEncoderPlan.apply(vit.encoder(), placement.tp());
        if (placement.tp().parallel()) {
            for (Parameter p : vit.head().parameters()) {
                p.shard(Parameter.Sharding.PARTIAL);
            }
        }
        return new ParallelVit(vit, placement);
    }
}
