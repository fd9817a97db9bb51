package io.megalith.core.diffusion;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.core.model.dit.DitBatch;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TensorParallelBoundaries;
import io.megalith.core.train.Part;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The diffusion loss of some rows of a step as a trainer {@link Part}: the step's loss is the mean squared error over
 * all its rows (each row weighs the same: every image has C H W values), so this part's backward starts from rows /
 * step rows and it returns its mean loss weighted so.
 *
 * <p>A text-conditioned DiT's rows come with their captions' token states as host values ({@link Conditioning.Text}:
 * a frozen or precomputed text encoder) and run as {@link ParallelDit#textSegments}'s two chains; the gradient of
 * this part's loss share with respect to those states, summed over the tensor-parallel group (each rank's
 * cross-attention heads give their part), can be written to a sink: what a text encoder trained with it receives.
 * Or a text encoder runs in the same pass ({@link TextEncoder}): its segments, then {@code text}, are the first chain.
 */
public final class DiffusionPart implements Part {
    private final ParallelDit model;
    private final DitBatch batch;
    private final Conditioning.Text text; // null: class labels
    private final float[] statesGradient; // null: not wanted
    private final DitText captions; // with an encoder
    private final TextEncoder encoder; // null: class labels, or host text states

    /**
     * A text encoder trained with the DiT: its {@code segments} map {@code input} (made in the part's manager, e.g. the
     * captions' token ids) to the token states [B, Tk, text_embd]. Under tensor parallelism the gradient of the
     * states each rank hands back is its partial sum: the encoder's chain sums it as the encoder-decoder's does (its
     * last segment's boundary ALL_REDUCE, or NONE after a segment whose parameters are PARTIAL and an ALL_REDUCE
     * before it). The trainer's plan is these segments, then {@link ParallelDit.TextChains#all}.
     */
    public record TextEncoder(List<Segment> segments, Function<NDManager, PtNDArray> input) {}

    private DiffusionPart(ParallelDit model, DitBatch batch, Conditioning.Text text, float[] statesGradient,
            DitText captions, TextEncoder encoder) {
        this.model = model;
        this.batch = batch;
        this.text = text;
        this.statesGradient = statesGradient;
        this.captions = captions;
        this.encoder = encoder;
    }

    /** Rows of a class-conditioned DiT. */
    public static Part of(ParallelDit model, DitBatch batch) {
        return new DiffusionPart(model, batch, null, null, null, null);
    }

    /**
     * Rows of a text-conditioned DiT with their captions ({@code batch.labels()} unread); {@code statesGradient}
     * (null: none), of the states' size, receives d (this part's loss share) / d states.
     */
    public static Part of(ParallelDit model, DitBatch batch, Conditioning.Text text, float[] statesGradient) {
        if (text.rows() != batch.rows() || (statesGradient != null && statesGradient.length != text.states().length)) {
            throw new IllegalArgumentException(batch.rows() + " rows with captions of " + text.rows() + " rows");
        }
        return new DiffusionPart(model, batch, text, statesGradient, text.text(), null);
    }

    /** Rows of a text-conditioned DiT whose captions' states {@code encoder} computes in the same pass. */
    public static Part of(ParallelDit model, DitBatch batch, DitText captions, TextEncoder encoder) {
        if (captions.rows() != batch.rows()) {
            throw new IllegalArgumentException(batch.rows() + " rows with captions of " + captions.rows() + " rows");
        }
        return new DiffusionPart(model, batch, null, null, captions, encoder);
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
        if (encoder != null) {
            NDManager m = ctx.manager();
            ParallelDit.TextChains chains = model.textSegments(batch, captions, m);
            List<Segment> first = new ArrayList<>(encoder.segments());
            first.add(chains.text());
            return share * SegmentedPass.runTwoChains(first, encoder.input().apply(m), chains.dit(),
                    model.input(batch, m), ctx, (float) share, hooks, recompute, tp);
        }
        if (text == null) {
            return share * SegmentedPass.run(model.segments(batch, ctx.manager()), model.input(batch, ctx.manager()),
                    ctx, (float) share, hooks, recompute, tp);
        }
        PtNDArray states = Ops.floats(ctx.manager(), text.states(), text.rows(), text.text().tokens(), text.width());
        if (statesGradient != null) {
            JniUtils.attachGradient(states, true);
        }
        ParallelDit.TextChains chains = model.textSegments(batch, text.text(), ctx.manager());
        double loss = share * SegmentedPass.runTwoChains(List.of(chains.text()), states, chains.dit(),
                model.input(batch, ctx.manager()), ctx, (float) share, hooks, recompute, tp);
        if (statesGradient != null) {
            PtNDArray g = JniUtils.getGradient(states);
            if (tp != null && tp.size() > 1) {
                TensorParallelBoundaries.copyToRegionBackward(g, tp); // the states are replicated: sum the parts
            }
            float[] v = g.toFloatArray();
            System.arraycopy(v, 0, statesGradient, 0, v.length);
            g.close(); // a handle only
        }
        return loss;
    }
}
