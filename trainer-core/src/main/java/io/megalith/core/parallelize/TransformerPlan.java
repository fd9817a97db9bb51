package io.megalith.core.parallelize;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.transformer.FeedForward;
import io.megalith.core.model.transformer.MultiHeadAttention;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.ColumnParallelLinear;
import io.megalith.core.tensorparallel.RowParallelLinear;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Megatron's tensor-parallel split of the shared transformer layers ({@code model.transformer}), which the BERT and
 * encoder-decoder plans apply to every layer, in place and before storage is bound: rank r of tp keeps heads
 * [n_head r / tp, n_head (r+1) / tp), so qkv (self-attention), q and kv (cross-attention) are column-parallel (the
 * rows of its heads), proj row-parallel (their columns); the feed-forward keeps a slice of the 4C hidden units (fc
 * column-, proj row-parallel); LayerNorms stay whole, their gradients partial sums (PARTIAL). Each sub-layer's output
 * is then this rank's partial sum of the one-rank output, summed over the group at a segment boundary
 * ({@link #halves}).
 */
public final class TransformerPlan {
    private TransformerPlan() {}

    /**
     * Splits {@code layer}'s attention(s) and feed-forward for {@code tp} and marks its norms PARTIAL (with a layout of
     * one: nothing, as each of these).
     */
    public static TransformerLayer layer(TransformerLayer layer, TpLayout tp) {
        if (!tp.parallel()) {
            return layer;
        }
        if (layer.moe() != null) {
            throw new IllegalArgumentException("MoE layers run with tp 1 (got tp " + tp.size() + ")");
        }
        layer.ln1().markPartial();
        attention(layer.attn(), tp);
        if (layer.cross() != null) {
            layer.lnCross().markPartial();
            attention(layer.cross(), tp);
        }
        layer.ln2().markPartial();
        feedForward(layer.mlp(), tp);
        return layer;
    }

    /** This rank's heads of a self- or cross-attention: input projections column-, proj row-parallel. */
    public static MultiHeadAttention attention(MultiHeadAttention attn, TpLayout tp) {
        if (!tp.parallel()) {
            return attn;
        }
        long a = attn.proj().base().weight().shape()[1]; // the heads side by side: n_head x head size
        if (attn.isCross()) {
            attn.q().parallelize(ColumnParallelLinear.slice(tp.parts(a, 1), tp));
            attn.kv().parallelize(ColumnParallelLinear.slice(tp.parts(a, 2), tp)); // k, v rows of its heads
        } else {
            attn.qkv().parallelize(ColumnParallelLinear.slice(tp.parts(a, 3), tp)); // q, k, v rows of its heads
        }
        attn.proj().parallelize(RowParallelLinear.slice(tp.part(a), tp)); // the same heads' columns
        return attn;
    }

    /** This rank's slice of the hidden units: fc column-, proj row-parallel. */
    public static FeedForward feedForward(FeedForward mlp, TpLayout tp) {
        if (!tp.parallel()) {
            return mlp;
        }
        long[] hidden = tp.part(mlp.fc().base().weight().shape()[0]);
        mlp.fc().parallelize(ColumnParallelLinear.slice(new long[][] {hidden}, tp));
        mlp.proj().parallelize(RowParallelLinear.slice(hidden, tp));
        return mlp;
    }

    /** Refuses a split that would cut a head. */
    static void checkHeads(int nHead, TpLayout tp) {
        if (nHead % tp.size() != 0) {
            throw new IllegalArgumentException("n_head " + nHead + " is not divisible by tp " + tp.size());
        }
    }

    /** One tensor-parallel step of a layer: its input and this rank's partial sum of its output. */
    public interface Half {
        PtNDArray forward(PtNDArray x, ForwardContext ctx);
    }

    /**
     * A layer as tensor-parallel steps (Megatron's f/g pairs), each mapping the group's summed input to this rank's
     * partial sum of the next value: summing each step's output over the group (an all-reduce at a segment boundary)
     * between steps computes exactly {@link TransformerLayer#forward}. The residual travels as {@code tp} equal shares
     * ({@code share} = 1/tp). Pre-LN: x/tp + f(ln(x)). Post-LN: the LayerNorm follows the sum, so each step first
     * normalises its input with the previous step's norm: {@code inputNorm} is the norm before this layer's first step
     * (the previous layer's ln2; null for the first layer, whose input is already normalised) and {@link #outputNorm}
     * the one the caller applies after the last layer's sum.
     */
    public static List<Half> halves(TransformerLayer layer, PtNDArray selfBias, PtNDArray memory, PtNDArray crossBias,
            PtNDArray share, LayerNorm inputNorm) {
        MultiHeadAttention attn = layer.attn();
        MultiHeadAttention cross = layer.cross();
        List<Half> out = new ArrayList<>();
        if (layer.spec().preLn()) {
            out.add((x, ctx) -> Ops.add(Ops.mul(x, share),
                    attn.forward(layer.ln1().forward(x), null, selfBias, ctx, null)));
            if (cross != null) {
                out.add((x, ctx) -> Ops.add(Ops.mul(x, share),
                        cross.forward(layer.lnCross().forward(x), memory, crossBias, ctx, null)));
            }
            out.add((x, ctx) -> Ops.add(Ops.mul(x, share), layer.feedForward(layer.ln2().forward(x), ctx)));
            return out;
        }
        out.add((s, ctx) -> {
            PtNDArray x = inputNorm == null ? s : inputNorm.forward(s);
            return Ops.add(Ops.mul(x, share), attn.forward(x, null, selfBias, ctx, null));
        });
        if (cross != null) {
            out.add((s, ctx) -> {
                PtNDArray x = layer.ln1().forward(s);
                return Ops.add(Ops.mul(x, share), cross.forward(x, memory, crossBias, ctx, null));
            });
        }
        LayerNorm beforeMlp = cross != null ? layer.lnCross() : layer.ln1();
        out.add((s, ctx) -> {
            PtNDArray x = beforeMlp.forward(s);
            return Ops.add(Ops.mul(x, share), layer.feedForward(x, ctx));
        });
        return out;
    }

    /** Post-LN: the norm applied to a layer's summed output (the next layer's {@code inputNorm}); pre-LN: null. */
    public static LayerNorm outputNorm(TransformerLayer layer) {
        return layer.spec().preLn() ? null : layer.ln2();
    }
}
