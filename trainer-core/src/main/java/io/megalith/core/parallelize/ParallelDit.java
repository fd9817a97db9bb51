package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitBatch;
import io.megalith.core.model.dit.DitBlock;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A DiT as one rank runs it after {@link DitPlan#apply}: its segment chain, with the all-reduces of its
 * tensor-parallel group at the segment boundaries. The blocks read the conditioning c besides the tokens, so the
 * chain carries it as one more token: every activation between segments is [B, T + 1, D], the patches' tokens then
 * c. Under tensor parallelism c travels, like the residual, as tp equal shares, so the all-reduce at each boundary
 * sums it back, and the gradient reaching it is summed with the tokens'. With {@link Placement#SINGLE} the chain
 * computes exactly {@link Dit#loss}.
 */
public final class ParallelDit {
    private final Dit model;
    private final Placement placement;
    private final TpLayout tp;
    private final DitConfig cfg;

    ParallelDit(Dit model, Placement placement) {
        this.model = model;
        this.placement = placement;
        this.tp = placement.tp();
        this.cfg = model.config();
    }

    /** This rank's part of the model (the one-rank model under {@link Placement#SINGLE}). */
    public Dit model() {
        return model;
    }

    public Placement placement() {
        return placement;
    }

    /** The chain's input: the noised images [B, C, H, W]. */
    public PtNDArray input(DitBatch batch, NDManager m) {
        return Ops.floats(m, batch.noised(), batch.rows(), cfg.channels(), cfg.height(), cfg.width());
    }

    /**
     * The mean squared error of {@code batch} as a chain for {@link io.megalith.core.segment.SegmentedPass} (null:
     * its shape only, for planning buckets): the embedding (patch tokens and c; complete on every rank, no collective
     * after it, its parameters' gradients partial sums), one segment per block (two under tensor parallelism: the
     * attention branch, the MLP branch, each this rank's partial sum of x/tp + branch), then the final layer and the
     * loss on complete activations, which under tensor parallelism every rank computes, reports and returns as 1/tp of
     * it (the replicated final layer's gradients and its input's add up once).
     */
    public List<Segment> segments(DitBatch batch, NDManager m) {
        int t = cfg.tokens();
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        List<Segment> out = new ArrayList<>();
        out.add(Segment.of("embed", model.embeddingParameters(), Segment.Boundary.NONE, 0, (x, skip, ctx) -> {
            PtNDArray c = model.condition(batch.t(), batch.labels(), ctx.manager());
            return pack(model.embed(x), c);
        }));
        for (int i = 0; i < model.blocks().size(); i++) {
            DitBlock block = model.blocks().get(i);
            if (!tp.parallel()) {
                out.add(Segment.of("blocks." + i, block.parameters(), (a, ctx) -> {
                    PtNDArray c = condition(a, t);
                    return pack(block.forward(tokens(a, t), c, ctx), c);
                }));
                continue;
            }
            out.add(Segment.of("blocks." + i + ".0", block.parameters(), (a, ctx) -> {
                PtNDArray x = tokens(a, t);
                PtNDArray c = condition(a, t);
                PtNDArray y = Ops.add(Ops.mul(x, share), block.attentionBranch(x, block.modulate(c), ctx));
                return pack(y, Ops.mul(c, share));
            }));
            out.add(Segment.of("blocks." + i + ".1", List.of(), (a, ctx) -> {
                PtNDArray x = tokens(a, t);
                PtNDArray c = condition(a, t);
                PtNDArray y = Ops.add(Ops.mul(x, share), block.mlpBranch(x, block.modulate(c), ctx));
                return pack(y, Ops.mul(c, share));
            }));
        }
        out.add(Segment.of("final", model.finalParameters(), Segment.Boundary.NONE, 0, (a, skip, ctx) -> {
            PtNDArray target = Ops.floats(ctx.manager(), batch.target(), batch.rows(), cfg.channels(), cfg.height(),
                    cfg.width());
            PtNDArray loss = Dit.mse(model.output(tokens(a, t), condition(a, t)), target);
            return tp.parallel() ? shareOf(loss, share, ctx) : loss;
        }));
        return out;
    }

    private static PtNDArray shareOf(PtNDArray loss, PtNDArray share, ForwardContext ctx) {
        ctx.reportLoss(loss.getFloat());
        return Ops.mul(loss, share);
    }

    /** [B, T, D] tokens and c [B, D] as one activation [B, T + 1, D]. */
    static PtNDArray pack(PtNDArray x, PtNDArray c) {
        long[] s = c.getShape().getShape();
        return Ops.cat(new PtNDArray[] {x, Ops.reshape(c, s[0], 1, s[1])}, 1);
    }

    /** The tokens [B, T, D] of an activation. */
    static PtNDArray tokens(PtNDArray a, int t) {
        return Ops.slice(a, 1, 0, t);
    }

    /** The conditioning c [B, D] of an activation. */
    static PtNDArray condition(PtNDArray a, int t) {
        long[] s = a.getShape().getShape();
        return Ops.reshape(Ops.slice(a, 1, t, t + 1), s[0], s[2]);
    }
}
