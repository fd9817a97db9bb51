package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.moe.ExpertParallelSegment;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.SequenceParallel;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.tensorparallel.VocabParallelCrossEntropy;
import java.util.ArrayList;
import java.util.List;

/**
 * The GPT as one rank runs it after {@link GptPlan#apply}: this rank's part of the model and its segment chain for
 * segment-wise training, with the collectives of its placement at the segment boundaries. With
 * {@link Placement#SINGLE} the chain computes exactly {@link Gpt#loss}.
 */
public final class ParallelGpt {
    private final Gpt gpt;
    private final Placement placement;
    private final TpLayout tp;
    private final GptConfig cfg;
    private PtNDArray residualScale; // 1/tp

    ParallelGpt(Gpt gpt, Placement placement) {
        this.gpt = gpt;
        this.placement = placement;
        this.tp = placement.tp();
        this.cfg = gpt.config();
    }

    /** This rank's part of the model (the one-rank model under {@link Placement#SINGLE}). */
    public Gpt model() {
        return gpt;
    }

    public Placement placement() {
        return placement;
    }

    /** Creates the model's constants and the residual share 1/tp in {@code manager}, once storage is bound. */
    public void initConstants(NDManager manager) {
        gpt.initConstants(manager);
        this.residualScale = Ops.scalar(manager, 1f / tp.size());
    }

    /**
     * What crosses from one pipeline stage to the next (the boundary after a block): complete activations under
     * sequence parallelism (each rank sends its shard to the same tensor-parallel rank of the next stage), partial
     * sums summed over the group otherwise.
     */
    public Segment.Boundary stageBoundary() {
        return placement.sequenceParallel() ? Segment.Boundary.NONE : Segment.Boundary.ALL_REDUCE;
    }

    /** Positions of a sequence of {@code t} that this rank's activations between stages hold. */
    public int stageSequenceLength(int t) {
        return placement.sequenceParallel() ? t / tp.size() : t;
    }

    /**
     * The chain: embedding (ids -> x) on the first stage, the stage's blocks (x -> x), and the head with the loss
     * against {@code targets} (x -> scalar) on the last. One segment per block on one rank; under tensor parallelism
     * two (the all-reduce of each half's partial sum sits between them); an MoE block under expert parallelism is its
     * attention half and an {@link ExpertParallelSegment} (tokens exchanged all-to-all inside).
     */
    public List<Segment> segments(Targets targets) {
        if (placement.sequenceParallel()) {
            return sequenceParallelSegments(targets);
        }
        List<Segment> out = new ArrayList<>();
        if (placement.pp().first()) {
            out.add(Segment.of("embed", List.of(gpt.wte().weight(), gpt.wpe().weight()), this::embed));
        }
        for (TransformerLayer b : gpt.blocks()) {
            String p = b.prefix();
            if (placement.expertParallel() != null && b.moe() != null) {
                out.add(Segment.of(p + ".attn", attentionParameters(b), (x, ctx) -> attentionHalf(b, x, ctx)));
                List<Parameter> moe = new ArrayList<>(b.ln2().parameters());
                moe.addAll(b.moe().parameters());
                out.add(new ExpertParallelSegment(p + ".moe", moe, b.ln2()::forward, b.moe(),
                        placement.expertParallel()));
            } else if (tp.parallel()) {
                out.add(Segment.of(p + ".attn", attentionParameters(b), (x, ctx) -> attentionHalf(b, x, ctx)));
                List<Parameter> mlp = new ArrayList<>(b.ln2().parameters());
                mlp.addAll(b.mlp().parameters());
                // x/tp + mlp(ln2(x)), summed over the group at the segment boundary
                out.add(Segment.of(p + ".mlp", mlp,
                        (x, ctx) -> Ops.add(Ops.mul(x, residualScale), b.feedForward(b.ln2().forward(x), ctx))));
            } else {
                out.add(Segment.of(p, b.parameters(),
                        (x, ctx) -> b.forward(x, mask(x), null, null, ctx, null, null)));
            }
        }
        if (placement.pp().last()) {
            List<Parameter> head = new ArrayList<>(gpt.lnF().parameters());
            head.add(gpt.wte().weight()); // tied: the head reads the token embedding
            out.add(Segment.of("head", head, (x, ctx) -> headLoss(gpt.lnF().forward(x), targets, ctx)));
        }
        return out;
    }

    /** Token + position embeddings with dropout; under tensor parallelism this rank's partial sum (wpe/tp). */
    private PtNDArray embed(PtNDArray ids, ForwardContext ctx) {
        if (!tp.parallel()) {
            return gpt.embed(ids, ctx, 0);
        }
        PtNDArray pos = Ops.mul(gpt.positions(0, ids.getShape().get(1)), residualScale);
        return ctx.dropout(Ops.add(gpt.wte().forward(ids), pos), cfg.dropout(), "drop");
    }

    private static List<Parameter> attentionParameters(TransformerLayer b) {
        List<Parameter> p = new ArrayList<>(b.ln1().parameters());
        p.addAll(b.attn().parameters());
        return p;
    }

    /**
     * The attention half of a block on one tensor-parallel rank: x/tp + attn(ln1(x)). Summed over the group (the
     * all-reduce at the segment boundary) it is x + attn(ln1(x)): the residual is carried as tp equal shares so that
     * the block's halves are single-input segments, and the gradient reaching x on each rank is a partial sum, summed
     * at the boundary too (Megatron's f and g operators). With tp 1 it is the plain half.
     */
    private PtNDArray attentionHalf(TransformerLayer b, PtNDArray x, ForwardContext ctx) {
        return Ops.add(Ops.mul(x, residualScale), b.attn().forward(b.ln1().forward(x), null, mask(x), ctx, null));
    }

    /** The causal mask of activations x [B, T, C] (all T positions). */
    private PtNDArray mask(PtNDArray x) {
        return gpt.causalMask(0, x.getShape().get(1));
    }

    /** Tied head and mean cross-entropy of final-LayerNorm outputs [B, T, C]; vocab-parallel under tp. */
    private PtNDArray headLoss(PtNDArray h, Targets targets, ForwardContext ctx) {
        PtNDArray logits = gpt.head(Ops.reshape(h, -1, cfg.nEmbd()));
        if (!tp.parallel()) {
            return targets.loss(logits);
        }
        if (targets.soft() != null) {
            throw new IllegalStateException("distillation with vocab-parallel logits (tp > 1) is not supported");
        }
        float[] loss = new float[1];
        PtNDArray surrogate = VocabParallelCrossEntropy.surrogate(logits, targets.host(), gpt.wte().firstRow(),
                targets.counted(), placement.tpGroup(), loss);
        ctx.reportLoss(loss[0]);
        return surrogate;
    }

    /**
     * The chain under sequence parallelism (Megatron's layout): the embedding's partial sums are reduce-scattered
     * along T, and each block is six segments,
     * <pre>
     *   ln1 (shard) -AG-> attention (partial sum) -RS-> x + dropout(a) (shard)
     *   ln2 (shard) -AG-> MLP (partial sum)       -RS-> x + dropout(m) (shard)
     * </pre>
     * (AG: all-gather along T, reduce-scatter in backward; RS: reduce-scatter, all-gather in backward). The residual
     * adds read the block's (or half's) input as a skip connection; the final LayerNorm runs on the shard and is
     * gathered for the head. LayerNorm gradients are partial sums over the sequence shards (PARTIAL parameters,
     * summed over the group like every PARTIAL gradient).
     */
    private List<Segment> sequenceParallelSegments(Targets targets) {
        List<Segment> out = new ArrayList<>();
        if (placement.pp().first()) {
            out.add(Segment.of("embed", List.of(gpt.wte().weight(), gpt.wpe().weight()),
                    Segment.Boundary.REDUCE_SCATTER_T, 0, (ids, skip, ctx) -> embedPartial(ids)));
            if (cfg.dropout() > 0) {
                out.add(Segment.of("drop", List.of(), Segment.Boundary.NONE, 0,
                        (x, skip, ctx) -> ctx.dropout(x, cfg.dropout(), "drop", shardOffset(x))));
            }
        }
        for (TransformerLayer b : gpt.blocks()) {
            String p = b.prefix();
            out.add(Segment.of(p + ".ln1", b.ln1().parameters(), Segment.Boundary.ALL_GATHER_T, 0,
                    (x, skip, ctx) -> b.ln1().forward(x)));
            // attention's partial sum without its residual dropout, which each rank applies to its shard
            out.add(Segment.of(p + ".attn", b.attn().parameters(), Segment.Boundary.REDUCE_SCATTER_T, 0,
                    (h, skip, ctx) -> b.attn().forward(h, null, mask(h), ctx, null, false)));
            out.add(Segment.of(p + ".attn_residual", List.of(), Segment.Boundary.NONE, 2,
                    (a, x, ctx) -> Ops.add(x, b.attn().residualDropout(a, ctx, shardOffset(a)))));
            out.add(Segment.of(p + ".ln2", b.ln2().parameters(), Segment.Boundary.ALL_GATHER_T, 0,
                    (x, skip, ctx) -> b.ln2().forward(x)));
            out.add(Segment.of(p + ".mlp", b.mlp().parameters(), Segment.Boundary.REDUCE_SCATTER_T, 0,
                    (g, skip, ctx) -> b.mlp().forwardBeforeDropout(g)));
            out.add(Segment.of(p + ".mlp_residual", List.of(), Segment.Boundary.NONE, 2,
                    (m, x, ctx) -> Ops.add(x, b.mlp().residualDropout(m, ctx, shardOffset(m)))));
        }
        if (placement.pp().last()) {
            out.add(Segment.of("ln_f", gpt.lnF().parameters(), Segment.Boundary.ALL_GATHER_T, 0,
                    (x, skip, ctx) -> gpt.lnF().forward(x)));
            out.add(Segment.of("head", List.of(gpt.wte().weight()), Segment.Boundary.NONE, 0,
                    (h, skip, ctx) -> headLoss(h, targets, ctx)));
        }
        return out;
    }

    /** This rank's partial sum of token + position embeddings of ids [B, T] (dropout follows on the shard). */
    private PtNDArray embedPartial(PtNDArray ids) {
        long t = ids.getShape().get(1);
        SequenceParallel.checkDivisible(t, tp.size());
        PtNDArray pos = gpt.positions(0, t);
        // wpe/tp per rank: summed once over the group
        return Ops.add(gpt.wte().forward(ids), Ops.mul(pos, residualScale));
    }

    /** Offset of this rank's sequence shard x [B, T/tp, C] within a sample's T x C elements (for dropout masks). */
    private long shardOffset(PtNDArray x) {
        long[] s = x.getShape().getShape();
        return tp.rank() * s[1] * s[2];
    }
}
