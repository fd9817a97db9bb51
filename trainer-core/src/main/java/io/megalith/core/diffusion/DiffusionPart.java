package io.megalith.core.diffusion;

import io.megalith.comm.Communicator;
import io.megalith.core.model.dit.DitBatch;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.train.Part;

/**
 * The diffusion loss of some rows of a step as a trainer {@link Part}: the step's loss is the mean squared error over
 * all its rows (each row weighs the same: every image has C H W values), so this part's backward starts from rows /
 * step rows and it returns its mean loss weighted so.
 */
public final class DiffusionPart implements Part {
    private final ParallelDit model;
    private final DitBatch batch;

    private DiffusionPart(ParallelDit model, DitBatch batch) {
        this.model = model;
        this.batch = batch;
    }

    public static Part of(ParallelDit model, DitBatch batch) {
        return new DiffusionPart(model, batch);
    }

    @Override
    public long scored() {
        return batch.rows();
    }

    @Override
    public long tokens() {
        return (long) batch.rows() * model.model().config().tokens();
    }

    @Override
    public int rows() {
        return batch.rows();
    }

    @Override
    public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
            SegmentedPass.Recompute recompute, Communicator tp) {
        double share = (double) batch.rows() / stepRows;
        return share * SegmentedPass.run(model.segments(batch, ctx.manager()), model.input(batch, ctx.manager()), ctx,
                (float) share, hooks, recompute, tp);
    }
}
