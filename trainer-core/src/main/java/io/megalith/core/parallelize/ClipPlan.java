package io.megalith.core.parallelize;

import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * How a {@link Clip} is split for one rank, in place before its storage is bound. Tensor parallelism: the image tower
 * by {@link ImageEncoderPlan} (as the ViT's trunk), the text tower by {@link TextEncoderPlan} (layers split by heads
 * and hidden units, embeddings and ln_f replicated and PARTIAL); the projections and logit_scale replicated and
 * PARTIAL (each rank computes them whole on complete activations and sees part of their gradient). Data parallelism: the contrastive loss reads
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
        ImageEncoderPlan.apply(clip.visual(), tp);
        if (tp.parallel()) {
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
