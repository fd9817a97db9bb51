package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.moe.MoeMlp;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/** A pre-LayerNorm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)). */
public final class Block extends Module {
    private final LayerNorm ln1;
    private final CausalSelfAttention attn;
    private final LayerNorm ln2;
    private final Mlp mlp; // null in an MoE block
    private final MoeMlp moe; // null in a dense block

    /** Block {@code layer}, with LoRA adapters on the projections {@code lora} targets (dense MLPs only). */
    public Block(String prefix, GptConfig cfg, int layer, LoraConfig lora) {
        super(prefix);
        this.ln1 = child(new LayerNorm(childName("ln1"), cfg.nEmbd(), cfg.bias()));
        this.attn = child(new CausalSelfAttention(childName("attn"), cfg, layer, lora));
        this.ln2 = child(new LayerNorm(childName("ln2"), cfg.nEmbd(), cfg.bias()));
        if (cfg.moe().moeLayer(layer)) {
            this.mlp = null;
            this.moe = child(new MoeMlp(childName("moe"), cfg.moe(), MoeMlp.moeIndex(cfg.moe(), layer), cfg.nEmbd(),
                    cfg.bias(), cfg.dropout(), cfg.nLayer()));
        } else {
            this.mlp = child(new Mlp(childName("mlp"), cfg, lora));
            this.moe = null;
        }
    }

    public LayerNorm ln1() {
        return ln1;
    }

    public CausalSelfAttention attn() {
        return attn;
    }

    public LayerNorm ln2() {
        return ln2;
    }

    /** The dense feed-forward of this block, or null for an MoE block. */
    public Mlp mlp() {
        return mlp;
    }

    /** The MoE feed-forward of this block, or null for a dense block. */
    public MoeMlp moe() {
        return moe;
    }

    /** The attention branch attn(ln1(x)) (with its residual dropout), before the residual add. */
    public PtNDArray attention(PtNDArray x, ForwardContext ctx, CausalSelfAttention.AttentionConstants consts,
            KvCache cache) {
        return attn.forward(ln1.forward(x), ctx, consts, cache);
    }

    /** The feed-forward branch mlp(ln2(x)) (dense or MoE, with its residual dropout), before the residual add. */
    public PtNDArray feedForward(PtNDArray x, ForwardContext ctx) {
        PtNDArray h = ln2.forward(x);
        return moe != null ? moe.forward(h, ctx) : mlp.forward(h, ctx);
    }

    public PtNDArray forward(PtNDArray x, ForwardContext ctx, CausalSelfAttention.AttentionConstants consts,
            KvCache cache) {
        x = Ops.add(x, attention(x, ctx, consts, cache));
        return Ops.add(x, feedForward(x, ctx));
    }
}
