package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitBatch;
import io.megalith.core.model.dit.DitBlock;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A DiT as one rank runs it after {@link DitPlan#apply}: its segment chain, with the all-reduces of its
 * tensor-parallel group at the segment boundaries. The blocks read the conditioning c besides the tokens, so the
 * chain carries it as one more token: every activation between segments is [B, T + 1, D], the patches' tokens then
 * c. Under tensor parallelism c travels, like the residual, as tp equal shares, so the all-reduce at each boundary
 * sums it back, and the gradient reaching it is summed with the tokens'. With {@link Placement#SINGLE} the chain
 * computes exactly {@link Dit#loss}.
 *
 * <p>A text-conditioned DiT runs as two chains ({@link #textSegments}), as the encoder-decoder does: the caption memory
 * (one segment, {@code text}, appended to whatever makes the token states) and the DiT's chain over it, every block's
 * cross-attention reading the memory as a second input.
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
        if (cfg.textConditioned()) {
            throw new IllegalStateException("a text-conditioned DiT runs as two chains: textSegments");
        }
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
        out.add(finalSegment(batch, share));
        return out;
    }

    /**
     * A text-conditioned DiT's loss as two chains for {@link io.megalith.core.segment.SegmentedPass#runTwoChains}:
     * {@code text}, a segment from the captions' token states [B, Tk, text_embd] to the memory [B, Tk, D] (null text
     * for the dropped rows, text_proj; {@link Dit#text}), which a text encoder's chain ends with, and the DiT's chain
     * over that memory, whose input is {@link #input}. {@code text}'s boundary is NONE: under tensor parallelism the
     * memory is complete and the same on every rank, and the gradient each rank's cross-attention heads give it is
     * their partial sum, which {@code text} takes as its upstream (its parameters PARTIAL) and hands on to the token
     * states, partial too: summed over the group by the text encoder's next boundary, as the encoder-decoder's encoder
     * output is. Nulls: the shape only, for planning buckets.
     */
    public record TextChains(Segment text, Function<PtNDArray, List<Segment>> dit) {
        /** Both chains as one list: each segment's parameters, for planning (after the text encoder's segments). */
        public List<Segment> all() {
            List<Segment> out = new ArrayList<>(List.of(text));
            out.addAll(dit.apply(null));
            return out;
        }
    }

    /**
     * The chains of {@code batch} with captions {@code text} (their mask and drops; {@code batch.labels()} unread).
     * One rank: embed (patches and c = time(t), plus the pooled memory where the DiT pools it: that gradient reaches the
     * memory as the cross-attentions' do), one segment per block, final; under tensor parallelism three per
     * block, the attention, cross-attention and MLP branches, each this rank's partial sum of x/tp + branch.
     */
    public TextChains textSegments(DitBatch batch, DitText text, NDManager m) {
        if (!cfg.textConditioned()) {
            throw new IllegalStateException("a class-conditioned DiT has no text chains: segments");
        }
        if (batch != null && text.rows() != batch.rows()) {
            throw new IllegalArgumentException(batch.rows() + " rows with the text of " + text.rows());
        }
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        PtNDArray bias = text == null ? null : Dit.textBias(text, m);
        Segment textSegment = Segment.of("text", model.textParameters(), Segment.Boundary.NONE, 0,
                (states, skip, ctx) -> model.text(states, text, ctx.manager()));
        Function<PtNDArray, List<Segment>> dit = memory -> {
            List<Segment> out = new ArrayList<>();
            out.add(Segment.of("embed", model.embeddingParameters(), Segment.Boundary.NONE, 0,
                    (x, skip, ctx) -> pack(model.embed(x), model.textCondition(batch.t(), memory, text,
                            ctx.manager()))));
            for (int i = 0; i < model.blocks().size(); i++) {
                addTextBlock(out, i, memory, bias, share);
            }
            out.add(finalSegment(batch, share));
            return out;
        };
        return new TextChains(textSegment, dit);
    }

    private void addTextBlock(List<Segment> out, int i, PtNDArray memory, PtNDArray bias, PtNDArray share) {
        int t = cfg.tokens();
        DitBlock block = model.blocks().get(i);
        if (!tp.parallel()) {
            out.add(Segment.of("blocks." + i, block.parameters(), (a, ctx) -> {
                PtNDArray c = condition(a, t);
                return pack(block.forward(tokens(a, t), c, memory, bias, ctx), c);
            }));
            return;
        }
        out.add(Segment.of("blocks." + i + ".0", block.parameters(), (a, ctx) -> {
            PtNDArray x = tokens(a, t);
            PtNDArray c = condition(a, t);
            PtNDArray y = Ops.add(Ops.mul(x, share), block.attentionBranch(x, block.modulate(c), ctx));
            return pack(y, Ops.mul(c, share));
        }));
        out.add(Segment.of("blocks." + i + ".1", List.of(), (a, ctx) -> {
            PtNDArray x = tokens(a, t);
            PtNDArray y = Ops.add(Ops.mul(x, share), block.crossBranch(x, memory, bias, ctx));
            return pack(y, Ops.mul(condition(a, t), share));
        }));
        out.add(Segment.of("blocks." + i + ".2", List.of(), (a, ctx) -> {
            PtNDArray x = tokens(a, t);
            PtNDArray c = condition(a, t);
            PtNDArray y = Ops.add(Ops.mul(x, share), block.mlpBranch(x, block.modulate(c), ctx));
            return pack(y, Ops.mul(c, share));
        }));
    }

    /** The final layer and the loss on complete activations (1/tp of it under tensor parallelism). */
    private Segment finalSegment(DitBatch batch, PtNDArray share) {
        int t = cfg.tokens();
        return Segment.of("final", model.finalParameters(), Segment.Boundary.NONE, 0, (a, skip, ctx) -> {
            PtNDArray target = Ops.floats(ctx.manager(), batch.target(), batch.rows(), cfg.channels(), cfg.height(),
                    cfg.width());
            PtNDArray loss = Dit.mse(model.output(tokens(a, t), condition(a, t)), target);
            return tp.parallel() ? shareOf(loss, share, ctx) : loss;
        });
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
