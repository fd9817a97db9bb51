package io.megalith.core.model;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;

/**
 * Multi-head causal self-attention with one fused QKV projection:
 * softmax(Q K^T / sqrt(hs) + M) V with M[i][j] = -inf for j > i (a key may not be in the query's future).
 * A tensor-parallel plan may keep some heads' rows of qkv and the same columns of proj: the layer then computes
 * those heads, and its output is their partial sum of the full output.
 */
public final class CausalSelfAttention extends Module {
    private final GptConfig cfg;
    private final int layer;
    private final LoraLinear qkv;
    private final LoraLinear proj;

    /**
     * With LoRA adapters on the projections {@code lora} targets ({@code attn.qkv}, {@code attn.proj}); without a
     * targeting config the layers are plain {@code Linear}s with their names ({@code <prefix>.qkv.weight}).
     */
    public CausalSelfAttention(String prefix, GptConfig cfg, int layer, LoraConfig lora) {
        super(prefix);
        this.cfg = cfg;
        this.layer = layer;
        long c = cfg.nEmbd();
        double residualStd = 0.02 / Math.sqrt(2.0 * cfg.nLayer());
        this.qkv = child(new LoraLinear(childName("qkv"), c, 3 * c, cfg.bias(), 0.02, lora));
        this.proj = child(new LoraLinear(childName("proj"), c, c, cfg.bias(), residualStd, lora));
    }

    /** The fused q, k, v projection [3C, C]. */
    public LoraLinear qkv() {
        return qkv;
    }

    /** The output projection [C, C]. */
    public LoraLinear proj() {
        return proj;
    }

    /** Heads this layer computes: all, or the heads of its qkv slice (q, k and v rows of the same heads). */
    private int heads() {
        return (int) (qkv.base().weight().shape()[0] / (3L * cfg.headSize()));
    }

    /** The first of {@link #heads()} in the one-rank layer: where its qkv slice starts in q. */
    private int firstHead() {
        Parameter.Sharding s = qkv.base().weight().sharding();
        return s.kind() == Parameter.Sharding.Kind.SLICE ? (int) (s.ranges()[0][0] / cfg.headSize()) : 0;
    }

    /**
     * x [B, T, C] -> [B, T, C]. With a cache, x holds the T positions after the cached ones and attends to
     * all of them; {@code consts} supplies the scale and the causal mask.
     */
    public PtNDArray forward(PtNDArray x, ForwardContext ctx, AttentionConstants consts, KvCache cache) {
        return forward(x, ctx, consts, cache, true);
    }

    /**
     * As above; without {@code dropResidual} the output is the projection before the residual dropout, which a
     * sequence-parallel block applies to its shard of the sequence afterwards ({@link #residualDropout}).
     */
    public PtNDArray forward(PtNDArray x, ForwardContext ctx, AttentionConstants consts, KvCache cache,
            boolean dropResidual) {
        long[] s = x.getShape().getShape();
        long b = s[0];
        long t = s[1];
        int h = heads();
        int hs = cfg.headSize();
        // [B, T, 3C] -> [3, B, H, T, hs]: q, k, v are views of one projection.
        PtNDArray heads = Ops.permute(Ops.reshape(qkv.forward(x), b, t, 3, h, hs), 2, 0, 3, 1, 4);
        // split, not three slices: a slice's backward zero-fills the whole input, split's is one cat.
        NDList parts = JniUtils.split(heads, 1, 0);
        PtNDArray q = JniUtils.squeeze(Ops.pt(parts.get(0)), 0);
        PtNDArray k = JniUtils.squeeze(Ops.pt(parts.get(1)), 0);
        PtNDArray v = JniUtils.squeeze(Ops.pt(parts.get(2)), 0);
        long past = 0;
        if (cache != null) {
            past = cache.length();
            PtNDArray[] kv = cache.append(layer, k, v);
            k = kv[0];
            v = kv[1];
        }
        long total = past + t;
        PtNDArray att = Ops.matmul(Ops.mul(q, consts.scale()), Ops.transpose(k, 2, 3)); // [B, H, T, past+T]
        att = Ops.add(att, consts.mask(past, t, total));
        att = Ops.softmax(att, -1);
        // the mask of these heads in the one-rank model's [B, H, T, T_total] tensor
        att = ctx.dropout(att, cfg.dropout(), prefix() + ".att", (long) firstHead() * t * total);
        PtNDArray y = Ops.matmul(att, v); // [B, H, T, hs]
        y = Ops.reshape(Ops.transpose(y, 1, 2), b, t, (long) h * hs);
        PtNDArray out = proj.forward(y);
        return dropResidual ? ctx.dropout(out, cfg.dropout(), prefix() + ".resid") : out;
    }

    /**
     * The residual dropout of positions [t0, t0 + T') of the output, given as y [B, T', C] with
     * {@code rowOffset} = t0 C: the one-rank model's mask at those positions.
     */
    public PtNDArray residualDropout(PtNDArray y, ForwardContext ctx, long rowOffset) {
        return ctx.dropout(y, cfg.dropout(), prefix() + ".resid", rowOffset);
    }

    /** Constants shared by all attention layers of a model, created once. */
    public static final class AttentionConstants {
        private final PtNDArray scale;
        private final PtNDArray causalBias;

        public AttentionConstants(NDManager manager, GptConfig cfg) {
            this.scale = Ops.scalar(manager, (float) (1.0 / Math.sqrt(cfg.headSize())));
            int n = cfg.blockSize();
            float[] bias = new float[n * n];
            for (int i = 0; i < n; i++) {
                for (int j = i + 1; j < n; j++) {
                    bias[i * n + j] = Float.NEGATIVE_INFINITY;
                }
            }
            this.causalBias = Ops.floats(manager, bias, n, n);
        }

        PtNDArray scale() {
            return scale;
        }

        /** Rows [past, past+t) and columns [0, total) of the causal bias. */
        PtNDArray mask(long past, long t, long total) {
            return Ops.slice(Ops.slice(causalBias, 0, past, past + t), 1, 0, total);
        }
    }
}
