package io.megalith.core.model.transformer;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.moe.MoeMlp;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/**
 * One layer of an encoder (self-attention, feed-forward) or of a decoder (self-attention, cross-attention over
 * the encoder output, feed-forward), each sub-layer residual:
 * <ul>
 *   <li>pre-LN (GPT-2, T5): x + f(ln(x)); the model adds a final LayerNorm;
 *   <li>post-LN (original Transformer and BERT): ln(x + f(x)).
 * </ul>
 * The GPT's blocks are pre-LN layers with a causal mask (an MoE feed-forward {@code moe} where its config puts
 * experts), BERT's post-LN (or pre-LN) encoder layers, the encoder-decoder's pre-LN layers with cross-attention in
 * the decoder. Names: {@code ln1, attn, [ln_cross, cross,] ln2, mlp | moe}. Tensor parallelism is applied from
 * outside ({@code parallelize.TransformerPlan}).
 */
public final class TransformerLayer extends Module {
    private final LayerSpec spec;
    private final LayerNorm ln1;
    private final MultiHeadAttention attn;
    private final LayerNorm lnCross;
    private final MultiHeadAttention cross;
    private final LayerNorm ln2;
    private final FeedForward mlp; // null in an MoE layer
    private final MoeMlp moe; // null in a dense layer

    /** Layer {@code layer} (0-based) of its stack: an MoE layer where {@code spec.moe()} puts experts. */
    public TransformerLayer(String prefix, LayerSpec spec, int layer, boolean withCrossAttention) {
        super(prefix);
        this.spec = spec;
        this.ln1 = child(new LayerNorm(childName("ln1"), spec.nEmbd(), spec.bias()));
        this.attn = child(new MultiHeadAttention(childName("attn"), spec, false));
        this.lnCross = withCrossAttention ? child(new LayerNorm(childName("ln_cross"), spec.nEmbd(), spec.bias())) : null;
        this.cross = withCrossAttention ? child(new MultiHeadAttention(childName("cross"), spec, true)) : null;
        this.ln2 = child(new LayerNorm(childName("ln2"), spec.nEmbd(), spec.bias()));
        if (spec.moe().moeLayer(layer)) {
            this.mlp = null;
            this.moe = child(new MoeMlp(childName("moe"), spec.moe(), MoeMlp.moeIndex(spec.moe(), layer), spec.nEmbd(),
                    spec.bias(), spec.dropout(), spec.depth()));
        } else {
            this.mlp = child(new FeedForward(childName("mlp"), spec));
            this.moe = null;
        }
    }

    public LayerSpec spec() {
        return spec;
    }

    public LayerNorm ln1() {
        return ln1;
    }

    public MultiHeadAttention attn() {
        return attn;
    }

    /** The norm of the cross-attention sub-layer, or null without one. */
    public LayerNorm lnCross() {
        return lnCross;
    }

    /** The cross-attention over the encoder output, or null (an encoder layer). */
    public MultiHeadAttention cross() {
        return cross;
    }

    public LayerNorm ln2() {
        return ln2;
    }

    /** The dense feed-forward, or null in an MoE layer. */
    public FeedForward mlp() {
        return mlp;
    }

    /** The mixture-of-experts feed-forward, or null in a dense layer. */
    public MoeMlp moe() {
        return moe;
    }

    /** The feed-forward branch of normalised h (dense or MoE, with its residual dropout). */
    public PtNDArray feedForward(PtNDArray h, ForwardContext ctx) {
        return moe != null ? moe.forward(h, ctx) : mlp.forward(h, ctx);
    }

    /**
     * x [B, T, C] -> [B, T, C]. {@code selfBias} masks the self-attention (padding and/or causal);
     * {@code memory} [B, Tk, C] and {@code crossBias} (the encoder's padding) feed the cross-attention.
     * The caches (null when not decoding incrementally) keep the self-attention's keys and values and the
     * cross-attention's once computed.
     */
    public PtNDArray forward(PtNDArray x, PtNDArray selfBias, PtNDArray memory, PtNDArray crossBias, ForwardContext ctx,
            AttentionCache selfCache, AttentionCache crossCache) {
        if (spec.preLn()) {
            x = Ops.add(x, attn.forward(ln1.forward(x), null, selfBias, ctx, selfCache));
            if (cross != null) {
                x = Ops.add(x, cross.forward(lnCross.forward(x), memory, crossBias, ctx, crossCache));
            }
            return Ops.add(x, feedForward(ln2.forward(x), ctx));
        }
        x = ln1.forward(Ops.add(x, attn.forward(x, null, selfBias, ctx, selfCache)));
        if (cross != null) {
            x = lnCross.forward(Ops.add(x, cross.forward(x, memory, crossBias, ctx, crossCache)));
        }
        return ln2.forward(Ops.add(x, feedForward(x, ctx)));
    }

    public boolean hasCrossAttention() {
        return cross != null;
    }
}
