package io.megalith.core.parallelize;

import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitBlock;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * How a DiT is split over a tensor-parallel group, applied to the whole one-rank model in place before its storage is
 * bound: every block's attention by heads and MLP by hidden units as the text families' layers
 * ({@link TransformerPlan#attention}, {@link TransformerPlan#feedForward}); the rest (patch embedding, timestep MLP,
 * class table, the blocks' adaLN modulations, the final layer) replicated with PARTIAL gradients, each rank seeing
 * only its part of the gradient flowing into them. A text-conditioned DiT's cross-attentions split by heads as the
 * encoder-decoder's ({@link TransformerPlan#attention}: q and kv column-, proj row-parallel), ln_cross and the caption
 * side (null_text, text_proj) replicated and PARTIAL. No pipeline, sequence or expert parallelism.
 */
public final class DitPlan {
    private DitPlan() {}

    /** Applies the plan for {@code placement} to {@code model} (in place) and returns it as this rank runs it. */
    public static ParallelDit apply(Dit model, Placement placement) {
        if (placement.pp().size() > 1 || placement.sequenceParallel() || placement.expertParallel() != null) {
            throw new IllegalArgumentException("the DiT runs data and tensor parallelism only (no pipeline, sequence "
                    + "or expert parallelism)");
        }
        TpLayout tp = placement.tp();
        TransformerPlan.checkHeads(model.config().nHead(), tp);
        if (tp.parallel()) {
            if (model.patch().weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
                throw new IllegalArgumentException("a plan applies to the whole one-rank model (not to a rank's part)");
            }
            partial(model.embeddingParameters());
            for (DitBlock block : model.blocks()) {
                TransformerPlan.attention(block.attn(), tp);
                if (block.cross() != null) {
                    block.lnCross().markPartial();
                    TransformerPlan.attention(block.cross(), tp);
                }
                TransformerPlan.feedForward(block.mlp(), tp);
                partial(block.modulation().parameters());
            }
            partial(model.finalParameters());
            partial(model.textParameters());
        }
        return new ParallelDit(model, placement);
    }

    private static void partial(Iterable<Parameter> params) {
        for (Parameter p : params) {
            p.shard(Parameter.Sharding.PARTIAL);
        }
    }
}
