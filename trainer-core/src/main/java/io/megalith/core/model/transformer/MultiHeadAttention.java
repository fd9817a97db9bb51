package io.megalith.core.model.transformer;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;

/**
 * Multi-head attention with an explicit additive mask, as self-attention (one fused {@code qkv} projection,
 * nanoGPT's layout) or cross-attention (queries from x through {@code q}, keys and values from the encoder output
 * through one fused {@code kv}): softmax(Q K^T / sqrt(hs) + bias) V, then the output projection {@code proj}.
 *
 * <p>The bias decides what attends to what: padding [B, 1, 1, Tk], causal [Tq, Tk], their sum, or null for
 * full bidirectional attention (see {@link AttentionMask}; the GPT passes its own causal mask). Projections are {@link LoraLinear}s, so LoRA can
 * target {@code attn.qkv}, {@code cross.q}, {@code cross.kv}, {@code attn.proj}, ...
 *
 * <p>A tensor-parallel plan may keep some heads' rows of the input projections and the same columns of proj: the
 * layer then computes those heads, and its output is their partial sum of the full output.
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
        long a = spec.attentionWidth(); // n_head x head size: c unless heads were pruned
        LoraConfig lora = spec.lora();
        if (cross) {
            this.qkv = null;
            this.q = child(new LoraLinear(childName("q"), c, a, spec.bias(), 0.02, lora));
            this.kv = child(new LoraLinear(childName("kv"), c, 2 * a, spec.bias(), 0.02, lora));
        } else {
            this.qkv = child(new LoraLinear(childName("qkv"), c, 3 * a, spec.bias(), 0.02, lora));
            this.q = null;
            this.kv = null;
        }
        this.proj = child(new LoraLinear(childName("proj"), a, c, spec.bias(), spec.residualStd(), lora));
    }

    /** The fused q, k, v projection [3A, C] of a self-attention (null in a cross-attention); A = n_head x head size. */
    public LoraLinear qkv() {
        return qkv;
    }

    /** The query projection [A, C] of a cross-attention (null in a self-attention). */
    public LoraLinear q() {
        return q;
    }

    /** The fused key, value projection [2A, C] of a cross-attention over the memory (null in a self-attention). */
    public LoraLinear kv() {
        return kv;
    }

    /** The output projection [C, A]. */
    public LoraLinear proj() {
        return proj;
    }

    /** The layer producing the queries: qkv (self) or q (cross). */
    private LoraLinear queries() {
        return cross ? q : qkv;
    }

    /** Heads this layer computes: all, or the heads of its query slice (a plan keeps q, k and v rows of the same heads). */
    private int heads() {
        return (int) (queries().base().weight().shape()[0] / ((cross ? 1L : 3L) * spec.headSize()));
    }

    /** The first of {@link #heads()} in the one-rank layer: where its query slice starts. */
    private int firstHead() {
        Parameter.Sharding s = queries().base().weight().sharding();
        return s.kind() == Parameter.Sharding.Kind.SLICE ? (int) (s.ranges()[0][0] / spec.headSize()) : 0;
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
        return forward(x, memory, bias, ctx, cache, true);
    }

    /**
     * As above; without {@code dropResidual} the output is the projection before the residual dropout, which a
     * sequence-parallel layer applies to its shard of the sequence afterwards ({@link #residualDropout}).
     */
    public PtNDArray forward(PtNDArray x, PtNDArray memory, PtNDArray bias, ForwardContext ctx, AttentionCache cache,
            boolean dropResidual) {
        long[] s = x.getShape().getShape();
        long b = s[0];
        long t = s[1];
        int h = heads();
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
        long tk = att.getShape().get(3);
        // the mask of these heads in the one-rank model's [B, H, Tq, Tk] tensor
        att = ctx.dropout(att, spec.dropout(), prefix() + ".att", (long) firstHead() * t * tk);
        PtNDArray y = Ops.matmul(att, v); // [B, H, Tq, hs]
        y = Ops.reshape(Ops.transpose(y, 1, 2), b, t, (long) h * hs);
        PtNDArray out = proj.forward(y);
        return dropResidual ? ctx.dropout(out, spec.dropout(), prefix() + ".resid") : out;
    }

    /**
     * The residual dropout of positions [t0, t0 + T') of the output, given as y [B, T', C] with
     * {@code rowOffset} = t0 C: the one-rank model's mask at those positions.
     */
    public PtNDArray residualDropout(PtNDArray y, ForwardContext ctx, long rowOffset) {
        return ctx.dropout(y, spec.dropout(), prefix() + ".resid", rowOffset);
    }

    /**
     * Creates the scale 1/sqrt(hs) in {@code manager} (a model's constants, alive as long as the model runs); without
     * it the layer makes it on first use next to its output projection's storage.
     */
    public void initConstants(NDManager manager) {
        this.scale = Ops.scalar(manager, (float) (1.0 / Math.sqrt(spec.headSize())));
    }

    private PtNDArray scale(NDManager any) {
        if (scale == null) {
            PtNDArray sc = Ops.scalar(proj.base().weight().value().getManager(), (float) (1.0 / Math.sqrt(spec.headSize())));
            NDScope.unregister(sc);
            scale = sc;
        }
        return scale;
    }
}
