package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/** A pre-LayerNorm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)). */
public final class Block extends Module {
    private final LayerNorm ln1;
    private final CausalSelfAttention attn;
    private final LayerNorm ln2;
    private final Mlp mlp;

    public Block(String prefix, GptConfig cfg, int layer) {
        super(prefix);
        this.ln1 = child(new LayerNorm(childName("ln1"), cfg.nEmbd(), cfg.bias()));
        this.attn = child(new CausalSelfAttention(childName("attn"), cfg, layer));
        this.ln2 = child(new LayerNorm(childName("ln2"), cfg.nEmbd(), cfg.bias()));
        this.mlp = child(new Mlp(childName("mlp"), cfg));
    }

    public PtNDArray forward(PtNDArray x, ForwardContext ctx, CausalSelfAttention.AttentionConstants consts,
            KvCache cache) {
        x = Ops.add(x, attn.forward(ln1.forward(x), ctx, consts, cache));
        return Ops.add(x, mlp.forward(ln2.forward(x), ctx));
    }
}
