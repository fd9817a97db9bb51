package io.megalith.core.family.bert;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.Communicator;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.train.Part;
import java.util.Arrays;

/**
 * Rows of a BERT pre-training step for the trainer (masked LM, plus NSP when the batch has labels; see {@link
 * ParallelBert#segments}): the step's loss is the mean MLM loss over its masked tokens plus the mean NSP loss over its
 * sequences.
 */
public final class MlmPart implements Part {
    private final ParallelBert model;
    private final MlmBatch batch;
    private final long scored;

    private MlmPart(ParallelBert model, MlmBatch batch) {
        this.model = model;
        this.batch = batch;
        this.scored = Arrays.stream(batch.targets()).filter(t -> t >= 0).count();
    }

    public static Part of(ParallelBert model, MlmBatch batch) {
        return new MlmPart(model, batch);
    }

    @Override
    public long scored() {
        return scored;
    }

    @Override
    public long tokens() {
        return batch.inputs().length;
    }

    @Override
    public int rows() {
        return batch.batch();
    }

    @Override
    public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
            SegmentedPass.Recompute recompute, Communicator tp) {
        NDManager m = ctx.manager();
        // MLM: a mean over the step's masked tokens; NSP: a mean over its sequences
        float mlm = (float) ((double) scored / stepScored);
        float nsp = (float) ((double) batch.batch() / stepRows);
        return SegmentedPass.run(model.segments(batch, m, mlm, nsp), Bert.inputIds(m, batch), ctx, 1f, hooks,
                recompute, tp);
    }
}
