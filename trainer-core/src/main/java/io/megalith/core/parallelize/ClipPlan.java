package io.megalith.core.parallelize;

import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * How a {@link Clip} is split for one rank, in place before its storage is bound. Tensor parallelism: every layer of
 * both towers as {@link TransformerPlan#layer} (attention by heads, feed-forward by hidden units, norms PARTIAL), as the
 * ViT's plan does (the text tower by {@link TextEncoderPlan}); the embeddings, both ln_f, the projections and logit_scale replicated and PARTIAL (each rank computes
 * them whole on complete activations and sees part of their gradient). Data parallelism: the contrastive loss reads
 * every data-parallel rank's embeddings ({@link ParallelClip}), so the plan is given the group. No pipeline, sequence
 * or expert parallelism.
 */
public final class ClipPlan {
    private ClipPlan() {}

    /** The plan for one rank of {@code placement} whose data-parallel group is {@code dp}. */
    public static ParallelClip apply(Clip clip, Placement placement, Communicator dp) {
        if (placement.pp().size() > 1 || placement.sequenceParallel() || placement.expertParallel() != null) {
            throw new IllegalArgumentException("clip runs data and tensor parallelism only (no pipeline, sequence or "
                    + "expert parallelism)");
        }
        TpLayout tp = placement.tp();
        TransformerPlan.checkHeads(clip.config().image().nHead(), tp);
        if (tp.parallel()) {
            if (clip.visualProj().weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
                throw new IllegalArgumentException("a plan applies to the whole one-rank model (not to a rank's part)");
            }
            for (TransformerLayer layer : clip.visual().layers()) {
                TransformerPlan.layer(layer, tp);
            }
            clip.visual().lnF().markPartial();
            for (Parameter p : clip.visual().embeddingParameters()) {
                p.shard(Parameter.Sharding.PARTIAL);
            }
            clip.visualProj().weight().shard(Parameter.Sharding.PARTIAL);
            clip.textProj().weight().shard(Parameter.Sharding.PARTIAL);
            clip.logitScale().shard(Parameter.Sharding.PARTIAL);
        }
        TextEncoderPlan.apply(clip.text(), tp);
        return new ParallelClip(clip, placement, dp == null ? new SingleRankCommunicator() : dp);
    }

    /** One rank holding the whole model and the whole batch. */
    public static ParallelClip single(Clip clip) {
        return apply(clip, Placement.SINGLE, null);
    }
}
