package io.megalith.core.model.transformer;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * One layer of an encoder (self-attention, feed-forward) or of a decoder (self-attention, cross-attention over
 * the encoder output, feed-forward), each sub-layer residual:
 * <ul>
 *   <li>pre-LN (GPT-2, T5): x + f(ln(x)); the model adds a final LayerNorm;
 *   <li>post-LN (original Transformer and BERT): ln(x + f(x)).
 * </ul>
 * Names: {@code ln1, attn, [ln_cross, cross,] ln2, mlp}.
 */
public final class TransformerLayer extends Module {
    private final LayerSpec spec;
    private final LayerNorm ln1;
    private final MultiHeadAttention attn;
    private final LayerNorm lnCross;
    private final MultiHeadAttention cross;
    private final LayerNorm ln2;
    private final FeedForward mlp;

    public TransformerLayer(String prefix, LayerSpec spec, boolean withCrossAttention) {
        this(prefix, spec, withCrossAttention, TpLayout.SINGLE);
    }

    /**
     * The layer on one rank of a tensor-parallel group: attention and feed-forward split as Megatron (see
     * {@link MultiHeadAttention}, {@link FeedForward}); LayerNorms replicated, their gradients partial sums. Run it
     * as {@link #halves} with a sum over the group after each.
     */
    public TransformerLayer(String prefix, LayerSpec spec, boolean withCrossAttention, TpLayout tp) {
        super(prefix);
        this.spec = spec;
        boolean partial = tp.parallel();
        this.ln1 = child(new LayerNorm(childName("ln1"), spec.nEmbd(), spec.bias(), partial));
        this.attn = child(new MultiHeadAttention(childName("attn"), spec, false, tp));
        this.lnCross = withCrossAttention ? child(new LayerNorm(childName("ln_cross"), spec.nEmbd(), spec.bias(), partial))
                : null;
        this.cross = withCrossAttention ? child(new MultiHeadAttention(childName("cross"), spec, true, tp)) : null;
        this.ln2 = child(new LayerNorm(childName("ln2"), spec.nEmbd(), spec.bias(), partial));
        this.mlp = child(new FeedForward(childName("mlp"), spec, tp));
    }

    /** One tensor-parallel step of a layer: its input and this rank's partial sum of its output. */
    public interface Half {
        PtNDArray forward(PtNDArray x, ForwardContext ctx);
    }

    /**
     * The layer as tensor-parallel steps (Megatron's f/g pairs), each mapping the group's summed input to this
     * rank's partial sum of the next value: summing each step's output over the group (an all-reduce at a segment
     * boundary) between steps computes exactly {@link #forward}. The residual travels as {@code tp} equal shares
     * ({@code share} = 1/tp). Pre-LN: x/tp + f(ln(x)). Post-LN: the LayerNorm follows the sum, so each step first
     * normalises its input with the previous step's norm: {@code inputNorm} is the norm before this layer's first
     * step (the previous layer's ln2; null for the first layer, whose input is already normalised) and
     * {@link #outputNorm} the one the caller applies after the last layer's sum.
     */
    public List<Half> halves(PtNDArray selfBias, PtNDArray memory, PtNDArray crossBias, PtNDArray share,
            LayerNorm inputNorm) {
        List<Half> out = new ArrayList<>();
        if (spec.preLn()) {
            out.add((x, ctx) -> Ops.add(Ops.mul(x, share), attn.forward(ln1.forward(x), null, selfBias, ctx, null)));
            if (cross != null) {
                out.add((x, ctx) -> Ops.add(Ops.mul(x, share),
                        cross.forward(lnCross.forward(x), memory, crossBias, ctx, null)));
            }
            out.add((x, ctx) -> Ops.add(Ops.mul(x, share), mlp.forward(ln2.forward(x), ctx)));
            return out;
        }
        out.add((s, ctx) -> {
            PtNDArray x = inputNorm == null ? s : inputNorm.forward(s);
            return Ops.add(Ops.mul(x, share), attn.forward(x, null, selfBias, ctx, null));
        });
        if (cross != null) {
            out.add((s, ctx) -> {
                PtNDArray x = ln1.forward(s);
                return Ops.add(Ops.mul(x, share), cross.forward(x, memory, crossBias, ctx, null));
            });
        }
        LayerNorm beforeMlp = cross != null ? lnCross : ln1;
        out.add((s, ctx) -> {
            PtNDArray x = beforeMlp.forward(s);
            return Ops.add(Ops.mul(x, share), mlp.forward(x, ctx));
        });
        return out;
    }

    /** Post-LN: the norm applied to this layer's summed output (the next layer's {@code inputNorm}); pre-LN: null. */
    public LayerNorm outputNorm() {
        return spec.preLn() ? null : ln2;
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
            return Ops.add(x, mlp.forward(ln2.forward(x), ctx));
        }
        x = ln1.forward(Ops.add(x, attn.forward(x, null, selfBias, ctx, selfCache)));
        if (cross != null) {
            x = lnCross.forward(Ops.add(x, cross.forward(x, memory, crossBias, ctx, crossCache)));
        }
        return ln2.forward(Ops.add(x, mlp.forward(x, ctx)));
    }

    public boolean hasCrossAttention() {
        return cross != null;
    }
}
