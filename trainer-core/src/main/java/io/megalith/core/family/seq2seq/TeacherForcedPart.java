package io.megalith.core.family.seq2seq;

import io.megalith.comm.Communicator;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.parallelize.ParallelEncoderDecoder;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.train.Part;
import java.util.Arrays;

/**
 * Rows of a teacher-forced seq2seq step for the trainer: the encoder chain, then the decoder chain reading its
 * output (see {@link ParallelEncoderDecoder#segments}); the loss a mean over the step's target tokens.
 */
public final class TeacherForcedPart implements Part {
    private final ParallelEncoderDecoder model;
    private final Seq2SeqTask.Batch batch;
    private final long scored;

    private TeacherForcedPart(ParallelEncoderDecoder model, Seq2SeqTask.Batch batch) {
        this.model = model;
        this.batch = batch;
        this.scored = Arrays.stream(batch.targets()).filter(t -> t >= 0).count();
    }

    public static Part of(ParallelEncoderDecoder model, Seq2SeqTask.Batch batch) {
        return new TeacherForcedPart(model, batch);
    }

    @Override
    public long scored() {
        return scored;
    }

    @Override
    public long tokens() {
        return batch.src().length + batch.tgtIn().length;
    }

    @Override
    public int rows() {
        return batch.batch();
    }

    @Override
    public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
            SegmentedPass.Recompute recompute, Communicator tp) {
        ParallelEncoderDecoder.Chains c = model.segments(batch, ctx.manager());
        double share = (double) scored / stepScored;
        // hooks see the encoder's segments, then the decoder's: the order of ParallelEncoderDecoder.Chains.all()
        return share * SegmentedPass.runTwoChains(c.encoder(), c.source(), c.decoder(), c.target(), ctx,
                (float) share, hooks, recompute, tp);
    }
}
