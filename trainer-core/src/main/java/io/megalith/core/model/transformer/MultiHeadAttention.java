package io.megalith.core.model.transformer;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/**
 * Multi-head attention with an explicit additive mask, as self-attention (one fused {@code qkv} projection,
 * the layout of {@link io.megalith.core.model.CausalSelfAttention}) or cross-attention (queries from x
 * through {@code q}, keys and values from the encoder output through one fused {@code kv}):
 * softmax(Q K^T / sqrt(hs) + bias) V, then the output projection {@code proj}.
 *
 * <p>The bias decides what attends to what: padding [B, 1, 1, Tk], causal [Tq, Tk], their sum, or null for
 * full bidirectional attention (see {@link AttentionMask}). Projections are {@link LoraLinear}s, so LoRA can
 * target {@code attn.qkv}, {@code cross.q}, {@code cross.kv}, {@code attn.proj}, ...
 */
public final class MultiHeadAttention extends Module {
    private final LayerSpec spec;
    private final boolean cross;
    private final LoraLinear qkv; // self
    private final LoraLinear q; // cross
    private final LoraLinear kv; // cross
    private final LoraLinear proj;
    private PtNDArray scale;

    public MultiHeadAttention(String prefix, LayerSpec spec, boolean cross) {
        super(prefix);
        this.spec = spec;
        this.cross = cross;
        long c = spec.nEmbd();
        if (cross) {
            this.qkv = null;
            this.q = child(new LoraLinear(childName("q"), c, c, spec.bias(), 0.02, spec.lora()));
            this.kv = child(new LoraLinear(childName("kv"), c, 2 * c, spec.bias(), 0.02, spec.lora()));
        } else {
            this.qkv = child(new LoraLinear(childName("qkv"), c, 3 * c, spec.bias(), 0.02, spec.lora()));
            this.q = null;
            this.kv = null;
        }
        this.proj = child(new LoraLinear(childName("proj"), c, c, spec.bias(), spec.residualStd(), spec.lora()));
    }

    public boolean isCross() {
        return cross;
    }

    /**
     * x [B, Tq, C] -> [B, Tq, C]. Self-attention ({@code memory} null): with a cache, x holds the positions after
     * the cached ones and its keys and values are appended (the bias must then cover [Tq, past + Tq]).
     * Cross-attention: keys and values come from {@code memory} [B, Tk, C], or from the cache once filled.
     */
    public PtNDArray forward(PtNDArray x, PtNDArray memory, PtNDArray bias, ForwardContext ctx, AttentionCache cache) {
        long[] s = x.getShape().getShape();
        long b = s[0];
        long t = s[1];
        int h = spec.nHead();
        int hs = spec.headSize();
        PtNDArray qh;
        PtNDArray k;
        PtNDArray v;
        if (!cross) {
            PtNDArray heads = Ops.permute(Ops.reshape(qkv.forward(x), b, t, 3, h, hs), 2, 0, 3, 1, 4);
            NDList parts = JniUtils.split(heads, 1, 0);
            qh = JniUtils.squeeze(Ops.pt(parts.get(0)), 0);
            k = JniUtils.squeeze(Ops.pt(parts.get(1)), 0);
            v = JniUtils.squeeze(Ops.pt(parts.get(2)), 0);
            if (cache != null) {
                PtNDArray[] full = cache.append(k, v);
                k = full[0];
                v = full[1];
            }
        } else {
            qh = Ops.permute(Ops.reshape(q.forward(x), b, t, h, hs), 0, 2, 1, 3);
            if (cache != null && !cache.isEmpty()) {
                k = cache.keys();
                v = cache.values();
            } else {
                long tk = memory.getShape().get(1);
                PtNDArray heads = Ops.permute(Ops.reshape(kv.forward(memory), b, tk, 2, h, hs), 2, 0, 3, 1, 4);
                NDList parts = JniUtils.split(heads, 1, 0);
                k = JniUtils.squeeze(Ops.pt(parts.get(0)), 0);
                v = JniUtils.squeeze(Ops.pt(parts.get(1)), 0);
                if (cache != null) {
                    PtNDArray[] kept = cache.set(k, v);
                    k = kept[0];
                    v = kept[1];
                }
            }
        }
        PtNDArray att = Ops.matmul(Ops.mul(qh, scale(x.getManager())), Ops.transpose(k, 2, 3)); // [B, H, Tq, Tk]
        if (bias != null) {
            att = Ops.add(att, bias);
        }
        att = Ops.softmax(att, -1);
        att = ctx.dropout(att, spec.dropout(), prefix() + ".att");
        PtNDArray y = Ops.matmul(att, v); // [B, H, Tq, hs]
        y = Ops.reshape(Ops.transpose(y, 1, 2), b, t, (long) h * hs);
        return ctx.dropout(proj.forward(y), spec.dropout(), prefix() + ".resid");
    }

    private PtNDArray scale(NDManager any) {
        if (scale == null) {
            PtNDArray sc = Ops.scalar(proj.base().weight().value().getManager(), (float) (1.0 / Math.sqrt(spec.headSize())));
            ai.djl.ndarray.NDScope.unregister(sc);
            scale = sc;
        }
        return scale;
    }
}
