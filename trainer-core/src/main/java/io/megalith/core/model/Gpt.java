package io.megalith.core.model;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.Communicator;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.moe.ExpertParallelSegment;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.pipeline.PpLayout;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.SequenceParallel;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.tensorparallel.VocabParallelCrossEntropy;
import java.util.ArrayList;
import java.util.List;

/**
 * A GPT with the architecture of nanoGPT's model.py: token + learned position embeddings, pre-LN
 * blocks, final LayerNorm, and an LM head tied to the token embedding (logits = h wte^T).
 * Init: normal(0, 0.02), residual projections normal(0, 0.02/sqrt(2 n_layer)), norms 1, biases 0.
 */
public final class Gpt extends Module {
    private final GptConfig cfg;
    private final Embedding wte; // null on middle pipeline stages
    private final Embedding wpe; // first stage only
    private final List<Block> blocks = new ArrayList<>();
    private final LayerNorm lnF; // last stage only
    private CausalSelfAttention.AttentionConstants consts;
    private final TpLayout tp;
    private final Communicator tpGroup;
    private PtNDArray residualScale;

    public Gpt(GptConfig cfg) {
        this(cfg, TpLayout.SINGLE, null);
    }

    /**
     * The GPT on one rank of a tensor-parallel group {@code tpGroup} (Megatron's layout): vocab-parallel token
     * embedding and cross-entropy, column/row-parallel attention and MLP, replicated norms and positions.
     * With a group of one it is exactly the plain model.
     */
    public Gpt(GptConfig cfg, TpLayout tp, Communicator tpGroup) {
        this(cfg, tp, tpGroup, PpLayout.SINGLE);
    }

    /**
     * The part of the GPT one pipeline stage holds (see {@link PpLayout}), tensor-parallel within the stage.
     * Parameters keep their one-rank names ({@code blocks.5.mlp.fc.weight} on whichever stage holds block 5).
     */
    public Gpt(GptConfig cfg, TpLayout tp, Communicator tpGroup, PpLayout pp) {
        this(cfg, tp, tpGroup, pp, false, null);
    }

    /**
     * As above, with Megatron's sequence parallelism when {@code sequenceParallel} and the group has more than one
     * rank: between the tensor-parallel regions (LayerNorms, dropouts, residual adds) each rank holds its shard
     * [B, T/tp, C] of the sequence; see {@link #segments}. A no-op with a group of one.
     */
    public Gpt(GptConfig cfg, TpLayout tp, Communicator tpGroup, PpLayout pp, boolean sequenceParallel) {
        this(cfg, tp, tpGroup, pp, sequenceParallel, null);
    }

    /**
     * With an expert-parallel group {@code expertParallel} of more than one rank, each MoE block holds this rank's
     * share of the experts and runs as an {@link io.megalith.core.moe.ExpertParallelSegment} (tokens exchanged
     * all-to-all); null or a group of one: every expert.
     */
    public Gpt(GptConfig cfg, TpLayout tp, Communicator tpGroup, PpLayout pp, Communicator expertParallel) {
        this(cfg, tp, tpGroup, pp, false, expertParallel);
    }

    /**
     * Sequence parallelism (tensor-parallel groups of more than one rank) and expert parallelism (MoE blocks, which
     * run with tp 1 only) as in the constructors above; they never apply together.
     */
    public Gpt(GptConfig cfg, TpLayout tp, Communicator tpGroup, PpLayout pp, boolean sequenceParallel,
            Communicator expertParallel) {
        this(cfg, tp, tpGroup, pp, sequenceParallel, expertParallel, LoraConfig.NONE);
    }

    /**
     * The plain one-rank GPT with LoRA adapters ({@link io.megalith.core.lora.LoraLinear}) on the attention and MLP
     * projections {@code lora} targets ({@code attn.qkv}, {@code attn.proj}, {@code mlp.fc}, {@code mlp.proj}, or a
     * full name such as {@code blocks.3.mlp.fc}): base parameters keep their names, adapters add
     * {@code <layer>.lora_a/lora_b}. With {@link io.megalith.core.lora.LoraConfig#NONE} it is exactly {@link #Gpt(GptConfig)}.
     */
    public Gpt(GptConfig cfg, LoraConfig lora) {
        this(cfg, TpLayout.SINGLE, null, PpLayout.SINGLE, false, null, lora);
    }

    /**
     * Every option above, with LoRA adapters: under tensor parallelism each adapter is split as its layer (see
     * {@link io.megalith.core.lora.LoraLinear}); MoE experts get none.
     */
    public Gpt(GptConfig cfg, TpLayout tp, Communicator tpGroup, PpLayout pp, boolean sequenceParallel,
            Communicator expertParallel, LoraConfig lora) {
        super("");
        this.sequenceParallel = sequenceParallel && tp.parallel();
        this.expertParallel = expertParallel != null && expertParallel.size() > 1 ? expertParallel : null;
        this.cfg = cfg;
        this.lora = lora;
        this.tp = tp;
        this.tpGroup = tpGroup;
        this.pp = pp;
        if (pp.size() > cfg.nLayer()) {
            throw new IllegalArgumentException(pp.size() + " pipeline stages for " + cfg.nLayer() + " layers");
        }
        if (tp.parallel() && (cfg.nHead() % tp.size() != 0)) {
            throw new IllegalArgumentException("n_head " + cfg.nHead() + " is not divisible by tp " + tp.size());
        }
        boolean tokens = pp.first() || pp.last();
        this.wte = !tokens ? null : child(tp.parallel()
                ? new Embedding("wte", cfg.vocabSize(), cfg.nEmbd(), 0.02, tp.part(cfg.vocabSize()))
                : new Embedding("wte", cfg.vocabSize(), cfg.nEmbd(), 0.02));
        this.wpe = !pp.first() ? null : child(new Embedding("wpe", cfg.blockSize(), cfg.nEmbd(), 0.02));
        if (wpe != null && tp.parallel()) {
            wpe.weight().shard(Parameter.Sharding.PARTIAL); // added as wpe/tp on every rank
        }
        this.firstBlock = pp.firstBlock(cfg.nLayer());
        for (int i = firstBlock; i < pp.endBlock(cfg.nLayer()); i++) {
            blocks.add(child(this.expertParallel == null ? new Block("blocks." + i, cfg, i, tp, 0, 1, lora)
                    : new Block("blocks." + i, cfg, i, tp, this.expertParallel.rank(), this.expertParallel.size(), lora)));
        }
        this.lnF = !pp.last() ? null : child(new LayerNorm("ln_f", cfg.nEmbd(), cfg.bias(), tp.parallel()));
    }

    private final PpLayout pp;
    private final LoraConfig lora;
    private final int firstBlock;
    private final Communicator expertParallel; // null: every rank holds every expert
    private final boolean sequenceParallel;

    /** The LoRA adapters this model was built with ({@link io.megalith.core.lora.LoraConfig#NONE}: none). */
    public LoraConfig lora() {
        return lora;
    }

    /** Whether activations between tensor-parallel regions are split along the sequence (tp > 1 only). */
    public boolean sequenceParallel() {
        return sequenceParallel;
    }

    /**
     * What crosses from one pipeline stage to the next (the boundary after a block): complete activations under
     * sequence parallelism (each rank sends its shard to the same tensor-parallel rank of the next stage), partial
     * sums summed over the group otherwise.
     */
    public Segment.Boundary stageBoundary() {
        return sequenceParallel ? Segment.Boundary.NONE : Segment.Boundary.ALL_REDUCE;
    }

    /** Positions of a sequence of {@code t} that this rank's activations between stages hold. */
    public int stageSequenceLength(int t) {
        return sequenceParallel ? t / tp.size() : t;
    }

    public PpLayout pipeline() {
        return pp;
    }

    /** The token embedding this stage holds (first and last stage: the head is tied to it), or null. */
    public Parameter tokenEmbedding() {
        return wte == null ? null : wte.weight();
    }

    public TpLayout tensorParallel() {
        return tp;
    }

    public GptConfig config() {
        return cfg;
    }

    /** Creates the model's constant tensors (mask, scale) in {@code manager}; call once storage is bound. */
    public void initConstants(NDManager manager) {
        this.consts = new CausalSelfAttention.AttentionConstants(manager, cfg);
        this.residualScale = Ops.scalar(manager, 1f / tp.size());
    }

    /** Token + position embeddings (with dropout) of ids [B, T] placed after {@code past} cached positions. */
    private PtNDArray embed(PtNDArray ids, ForwardContext ctx, long past) {
        long t = ids.getShape().get(1);
        if (past + t > cfg.blockSize()) {
            throw new IllegalArgumentException("sequence of " + (past + t) + " exceeds block_size " + cfg.blockSize());
        }
        PtNDArray table = wpe.weight().value();
        // [T, C], broadcast over B; the whole table needs no slice (whose backward would zero-fill a copy)
        PtNDArray pos = past == 0 && t == cfg.blockSize() ? table : Ops.slice(table, 0, past, past + t);
        if (tp.parallel()) {
            pos = Ops.mul(pos, residualScale); // each rank adds wpe/tp: the sum over the group adds it once
        }
        PtNDArray x = Ops.add(wte.forward(ids), pos);
        return ctx.dropout(x, cfg.dropout(), "drop");
    }

    /** Final LayerNorm, tied head and mean cross-entropy of hidden states [B, T, C]. */
    private PtNDArray headLoss(PtNDArray x, Targets targets, ForwardContext ctx) {
        return normalisedHeadLoss(lnF.forward(x), targets, ctx);
    }

    /** Tied head and mean cross-entropy of final-LayerNorm outputs [B, T, C]. */
    private PtNDArray normalisedHeadLoss(PtNDArray h, Targets targets, ForwardContext ctx) {
        PtNDArray logits = head(Ops.reshape(h, -1, cfg.nEmbd()));
        if (!tp.parallel()) {
            return Ops.crossEntropy(logits, targets.safe(), targets.mask(), targets.counted());
        }
        float[] loss = new float[1];
        PtNDArray surrogate = VocabParallelCrossEntropy.surrogate(logits, targets.host(), wte.firstRow(),
                targets.counted(), tpGroup, loss);
        ctx.reportLoss(loss[0]);
        return surrogate;
    }

    /**
     * The model as a chain for segment-wise training: embedding (ids -> x), one segment per block
     * (x -> x), and the head with the loss against {@code targets} (x -> scalar). Running them in order
     * computes exactly {@link #loss}.
     */
    public List<Segment> segments(Targets targets) {
        if (sequenceParallel) {
            return sequenceParallelSegments(targets);
        }
        List<Segment> out = new ArrayList<>();
        if (pp.first()) {
            out.add(Segment.of("embed", List.of(wte.weight(), wpe.weight()), (ids, ctx) -> embed(ids, ctx, 0)));
        }
        for (int k = 0; k < blocks.size(); k++) {
            Block b = blocks.get(k);
            int i = firstBlock + k;
            if (expertParallel != null && b.moe() != null) {
                // the attention half, then the MoE half with its all-to-alls inside (its own backward)
                out.add(Segment.of("blocks." + i + ".attn", b.attentionParameters(),
                        (x, ctx) -> b.attentionHalf(x, ctx, consts, residualScale)));
                out.add(new ExpertParallelSegment("blocks." + i + ".moe", b.mlpParameters(),
                        b::norm2, b.moe(), expertParallel));
            } else if (tp.parallel()) {
                // two segments per block: the all-reduce of each half's partial sum sits between them
                out.add(Segment.of("blocks." + i + ".attn", b.attentionParameters(),
                        (x, ctx) -> b.attentionHalf(x, ctx, consts, residualScale)));
                out.add(Segment.of("blocks." + i + ".mlp", b.mlpParameters(), (x, ctx) -> b.mlpHalf(x, ctx, residualScale)));
            } else {
                out.add(Segment.of("blocks." + i, b.parameters(), (x, ctx) -> b.forward(x, ctx, consts, null)));
            }
        }
        if (pp.last()) {
            List<Parameter> headParams = new ArrayList<>(lnF.parameters());
            headParams.add(wte.weight()); // tied: the head reads the token embedding
            out.add(Segment.of("head", headParams, (x, ctx) -> headLoss(x, targets, ctx)));
        }
        return out;
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
        if (pp.first()) {
            out.add(Segment.of("embed", List.of(wte.weight(), wpe.weight()), Segment.Boundary.REDUCE_SCATTER_T, 0,
                    (ids, skip, ctx) -> embedPartial(ids)));
            if (cfg.dropout() > 0) {
                out.add(Segment.of("drop", List.of(), Segment.Boundary.NONE, 0,
                        (x, skip, ctx) -> ctx.dropout(x, cfg.dropout(), "drop", shardOffset(x))));
            }
        }
        for (int k = 0; k < blocks.size(); k++) {
            Block b = blocks.get(k);
            String p = "blocks." + (firstBlock + k);
            out.add(Segment.of(p + ".ln1", b.ln1().parameters(), Segment.Boundary.ALL_GATHER_T, 0,
                    (x, skip, ctx) -> b.ln1().forward(x)));
            out.add(Segment.of(p + ".attn", b.attnParameters(), Segment.Boundary.REDUCE_SCATTER_T, 0,
                    (h, skip, ctx) -> b.attentionPartial(h, ctx, consts)));
            out.add(Segment.of(p + ".attn_residual", List.of(), Segment.Boundary.NONE, 2,
                    (a, x, ctx) -> b.attentionResidual(a, x, ctx, shardOffset(a))));
            out.add(Segment.of(p + ".ln2", b.ln2().parameters(), Segment.Boundary.ALL_GATHER_T, 0,
                    (x, skip, ctx) -> b.ln2().forward(x)));
            out.add(Segment.of(p + ".mlp", b.mlpOnlyParameters(), Segment.Boundary.REDUCE_SCATTER_T, 0,
                    (g, skip, ctx) -> b.mlpPartial(g)));
            out.add(Segment.of(p + ".mlp_residual", List.of(), Segment.Boundary.NONE, 2,
                    (m, x, ctx) -> b.mlpResidual(m, x, ctx, shardOffset(m))));
        }
        if (pp.last()) {
            out.add(Segment.of("ln_f", lnF.parameters(), Segment.Boundary.ALL_GATHER_T, 0, (x, skip, ctx) -> lnF.forward(x)));
            out.add(Segment.of("head", List.of(wte.weight()), Segment.Boundary.NONE, 0,
                    (h, skip, ctx) -> normalisedHeadLoss(h, targets, ctx)));
        }
        return out;
    }

    /** This rank's partial sum of token + position embeddings of ids [B, T] (dropout follows on the shard). */
    private PtNDArray embedPartial(PtNDArray ids) {
        long t = ids.getShape().get(1);
        SequenceParallel.checkDivisible(t, tp.size());
        if (t > cfg.blockSize()) {
            throw new IllegalArgumentException("sequence of " + t + " exceeds block_size " + cfg.blockSize());
        }
        PtNDArray table = wpe.weight().value();
        PtNDArray pos = t == cfg.blockSize() ? table : Ops.slice(table, 0, 0, t);
        return Ops.add(wte.forward(ids), Ops.mul(pos, residualScale)); // wpe/tp per rank: summed once over the group
    }

    /** Offset of this rank's sequence shard x [B, T/tp, C] within a sample's T x C elements (for dropout masks). */
    private long shardOffset(PtNDArray x) {
        long[] s = x.getShape().getShape();
        return tp.rank() * s[1] * s[2];
    }

    /** Final hidden states [B, T, C] for token ids [B, T] (int64), continuing after {@code cache} if given. */
    public PtNDArray hidden(PtNDArray ids, ForwardContext ctx, KvCache cache) {
        requireSingleRank("hidden");
        long t = ids.getShape().get(1);
        long past = cache == null ? 0 : cache.length();
        PtNDArray x = embed(ids, ctx, past);
        for (Block b : blocks) {
            x = b.forward(x, ctx, consts, cache);
        }
        if (cache != null) {
            cache.advance(t);
        }
        return lnF.forward(x);
    }

    /** Logits [N, V] for hidden states [N, C] through the tied head. */
    public PtNDArray head(PtNDArray h) {
        return Ops.linear(h, wte.weight().value(), null);
    }

    /** Mean cross-entropy of next-token targets over the batch (ignored targets excluded). */
    public PtNDArray loss(PtNDArray ids, Targets targets, ForwardContext ctx) {
        requireSingleRank("loss");
        PtNDArray x = embed(ids, ctx, 0);
        for (Block b : blocks) {
            x = b.forward(x, ctx, consts, null);
        }
        return headLoss(x, targets, ctx);
    }

    /** Whole-graph paths (inference, the KV cache) are for the full model; tensor-parallel runs use segments. */
    private void requireSingleRank(String what) {
        if (tp.parallel() || pp.parallel() || expertParallel != null) {
            throw new IllegalStateException(what + " of a tensor-parallel shard: run segments(), or a full model");
        }
    }

    /** Logits [B, V] of the last position only (as nanoGPT's inference path). */
    public PtNDArray lastLogits(PtNDArray ids, ForwardContext ctx, KvCache cache) {
        PtNDArray h = hidden(ids, ctx, cache);
        long t = h.getShape().get(1);
        PtNDArray last = Ops.reshape(Ops.slice(h, 1, t - 1, t), -1, cfg.nEmbd());
        return head(last);
    }

    /** Logits [B, T, V] at every position. */
    public PtNDArray logits(PtNDArray ids, ForwardContext ctx) {
        PtNDArray h = hidden(ids, ctx, null);
        return head(h);
    }
}
