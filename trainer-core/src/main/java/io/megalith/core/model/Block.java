package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.moe.MoeMlp;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/** A pre-LayerNorm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)). */
public final class Block extends Module {
    private final LayerNorm ln1;
    private final CausalSelfAttention attn;
    private final LayerNorm ln2;
    private final Mlp mlp; // null in an MoE block
    private final MoeMlp moe; // null in a dense block

    public Block(String prefix, GptConfig cfg, int layer) {
        this(prefix, cfg, layer, TpLayout.SINGLE);
    }

    public Block(String prefix, GptConfig cfg, int layer, TpLayout tp) {
        this(prefix, cfg, layer, tp, 0, 1);
    }

    /** With expert parallelism: an MoE block holds the experts of rank {@code epRank} of {@code ep}. */
    public Block(String prefix, GptConfig cfg, int layer, TpLayout tp, int epRank, int ep) {
        this(prefix, cfg, layer, tp, epRank, ep, LoraConfig.NONE);
    }

    /** With LoRA adapters on the attention and MLP projections {@code lora} targets (dense MLPs only). */
    public Block(String prefix, GptConfig cfg, int layer, TpLayout tp, int epRank, int ep,
            LoraConfig lora) {
        super(prefix);
        this.ln1 = child(new LayerNorm(childName("ln1"), cfg.nEmbd(), cfg.bias(), tp.parallel()));
        this.attn = child(new CausalSelfAttention(childName("attn"), cfg, layer, tp, lora));
        this.ln2 = child(new LayerNorm(childName("ln2"), cfg.nEmbd(), cfg.bias(), tp.parallel()));
        if (cfg.moe().moeLayer(layer)) {
            if (tp.parallel()) {
                throw new IllegalArgumentException("MoE blocks run with tp 1 (got tp " + tp.size() + ")");
            }
            this.mlp = null;
            this.moe = child(new MoeMlp(childName("moe"), cfg.moe(),
                    MoeMlp.moeIndex(cfg.moe(), layer), cfg.nEmbd(), cfg.bias(), cfg.dropout(),
                    cfg.nLayer(), epRank, ep));
        } else {
            this.mlp = child(new Mlp(childName("mlp"), cfg, tp, lora));
            this.moe = null;
        }
    }

    /** The MoE feed-forward of this block, or null for a dense block. */
    public MoeMlp moe() {
        return moe;
    }

    /** The second LayerNorm (before the feed-forward). */
    public PtNDArray norm2(PtNDArray x) {
        return ln2.forward(x);
    }

    /** The feed-forward half's output (before the residual add): the dense MLP or the MoE block. */
    private PtNDArray feedForward(PtNDArray x, ForwardContext ctx) {
        return moe != null ? moe.forward(x, ctx) : mlp.forward(x, ctx);
    }

    /**
     * The attention half of the block on one tensor-parallel rank: x/tp + attn(ln1(x)). Summed over the group
     * (the all-reduce at the segment boundary) it is x + attn(ln1(x)): the residual is carried as tp equal
     * shares so that the block's halves are single-input segments, and the gradient reaching x on each rank is
     * a partial sum, summed at the boundary too (Megatron's f and g operators).
     */
    public PtNDArray attentionHalf(PtNDArray x, ForwardContext ctx, CausalSelfAttention.AttentionConstants consts,
            PtNDArray scale) {
        return Ops.add(Ops.mul(x, scale), attn.forward(ln1.forward(x), ctx, consts, null));
    }

    /** Parameters the attention half reads. */
    public List<Parameter> attentionParameters() {
        List<Parameter> p = new ArrayList<>(ln1.parameters());
        p.addAll(attn.parameters());
        return p;
    }

    /** Parameters the MLP half reads. */
    public List<Parameter> mlpParameters() {
        List<Parameter> p = new ArrayList<>(ln2.parameters());
        p.addAll(moe != null ? moe.parameters() : mlp.parameters());
        return p;
    }

    /** The MLP half: x/tp + mlp(ln2(x)), summed over the group at the segment boundary. */
    public PtNDArray mlpHalf(PtNDArray x, ForwardContext ctx, PtNDArray scale) {
        return Ops.add(Ops.mul(x, scale), feedForward(ln2.forward(x), ctx));
    }

    // Sequence parallelism: the block as six pieces, LayerNorms, dropouts and residual adds on this rank's
    // shard of the sequence [B, T/tp, C], attention and MLP on the whole (gathered) sequence (see Gpt.segments).

    public LayerNorm ln1() {
        return ln1;
    }

    public LayerNorm ln2() {
        return ln2;
    }

    public List<Parameter> attnParameters() {
        return attn.parameters();
    }

    public List<Parameter> mlpOnlyParameters() {
        return mlp.parameters();
    }

    /** This rank's partial sum [B, T, C] of attn(h), h = ln1(x) gathered over the sequence; no residual dropout. */
    public PtNDArray attentionPartial(PtNDArray h, ForwardContext ctx, CausalSelfAttention.AttentionConstants consts) {
        return attn.forward(h, ctx, consts, null, false);
    }

    /** x + dropout(a) on a shard: a the attention output's shard, {@code rowOffset} = first position x C. */
    public PtNDArray attentionResidual(PtNDArray a, PtNDArray x, ForwardContext ctx, long rowOffset) {
        return Ops.add(x, attn.residualDropout(a, ctx, rowOffset));
    }

    /** This rank's partial sum [B, T, C] of mlp(g), g = ln2(x) gathered over the sequence; no residual dropout. */
    public PtNDArray mlpPartial(PtNDArray g) {
        return mlp.forwardBeforeDropout(g);
    }

    /** x + dropout(m) on a shard. */
    public PtNDArray mlpResidual(PtNDArray m, PtNDArray x, ForwardContext ctx, long rowOffset) {
        return Ops.add(x, mlp.residualDropout(m, ctx, rowOffset));
    }

    public PtNDArray forward(PtNDArray x, ForwardContext ctx, CausalSelfAttention.AttentionConstants consts,
            KvCache cache) {
        x = Ops.add(x, attn.forward(ln1.forward(x), ctx, consts, cache));
        return Ops.add(x, feedForward(ln2.forward(x), ctx));
    }
}
