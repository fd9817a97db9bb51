package io.megalith.core.family.clip;

import io.megalith.comm.Communicator;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.parallelize.ParallelClip;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.train.Part;

/**
 * Captioned images as a trainer {@link Part} of a {@link ParallelClip}: the image chain, then the text chain ending in
 * the contrastive loss over every data-parallel rank's rows of the micro-batch. The step's loss is the mean over its
 * micro-batches of their whole-batch loss, so this rank's rows weigh rows / (the step's rows).
 */
public final class ClipPart implements Part {
    private final ParallelClip model;
    private final CaptionBatch batch;
    private final long[] ids;

    private ClipPart(ParallelClip model, CaptionBatch batch, CaptionTokens tokens) {
        this.model = model;
        this.batch = batch;
        this.ids = tokens.encode(batch.captions());
    }

    public static Part of(ParallelClip model, CaptionBatch batch, CaptionTokens tokens) {
        return new ClipPart(model, batch, tokens);
    }

    @Override
    public long scored() {
        return batch.rows(); // one pair per row
    }

    @Override
    public long tokens() {
        return (long) batch.rows() * model.model().config().image().tokens() + ids.length;
    }

    @Override
    public int rows() {
        return batch.rows();
    }

    @Override
    public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
            SegmentedPass.Recompute recompute, Communicator tp) {
        float w = (float) ((double) batch.rows() / stepRows);
        ParallelClip.Chains c = model.segments(batch.images().pixels(), ids, batch.rows(), ctx.manager(), w);
        // hooks see the image chain's segments, then the text chain's: the order of ParallelClip.Chains.all()
        return SegmentedPass.runTwoChains(c.image(), c.pixels(), c.text(), c.ids(), ctx, 1f, hooks, recompute, tp);
    }
}
