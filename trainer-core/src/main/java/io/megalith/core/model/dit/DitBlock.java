package io.megalith.core.model.dit;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.transformer.FeedForward;
import io.megalith.core.model.transformer.LayerSpec;
import io.megalith.core.model.transformer.MultiHeadAttention;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/**
 * A DiT block with adaLN-Zero (Peebles and Xie, 2023). From the conditioning c [B, D] the block regresses six
 * vectors, (shift, scale, gate) for attention and for the MLP: modulation(silu(c)) [B, 6D]. Then
 * <pre>
 *   x = x + gate_msa * attn(norm(x) * (1 + scale_msa) + shift_msa)
 *   x = x + gate_mlp * mlp(norm(x) * (1 + scale_mlp) + shift_mlp)
 * </pre>
 * with norm a LayerNorm without affine parameters (eps 1e-6). The modulation is zero-initialised, so every gate is
 * 0 and the block is the identity at init. Names: {@code attn}, {@code mlp}, {@code modulation}.
 *
 * <p>A text-conditioned block (PixArt-alpha) cross-attends between the two, through the shared cross-attention layer
 * (queries from the patches, keys and values from the caption memory [B, Tk, D], padding masked by an additive bias):
 * <pre>
 *   x = x + cross(ln_cross(x), memory, bias)
 * </pre>
 * ungated, not modulated (the caption, not the timestep, steers it); names {@code ln_cross}, {@code cross.{q,kv,proj}}.
 */
public final class DitBlock extends Module {
    private final MultiHeadAttention attn;
    private final FeedForward mlp;
    private final LayerNorm lnCross; // null in a class-conditioned block
    private final MultiHeadAttention cross; // null in a class-conditioned block
    private final ZeroLinear modulation;
    private final ShiftScale shiftScale;

    /** A class-conditioned block. */
    public DitBlock(String prefix, LayerSpec spec) {
        this(prefix, spec, false);
    }

    /** A block, with cross-attention over text where {@code withCrossAttention}. */
    public DitBlock(String prefix, LayerSpec spec, boolean withCrossAttention) {
        super(prefix);
        long d = spec.nEmbd();
        this.attn = child(new MultiHeadAttention(childName("attn"), spec, false));
        this.lnCross = withCrossAttention ? child(new LayerNorm(childName("ln_cross"), d, spec.bias())) : null;
        this.cross = withCrossAttention ? child(new MultiHeadAttention(childName("cross"), spec, true)) : null;
        this.mlp = child(new FeedForward(childName("mlp"), spec));
        this.modulation = child(new ZeroLinear(childName("modulation"), d, 6 * d)); // adaLN-Zero
        this.shiftScale = new ShiftScale(modulation.weight(), d);
    }

    public MultiHeadAttention attn() {
        return attn;
    }

    public FeedForward mlp() {
        return mlp;
    }

    public ZeroLinear modulation() {
        return modulation;
    }

    /** The norm before the cross-attention, or null (a class-conditioned block). */
    public LayerNorm lnCross() {
        return lnCross;
    }

    /** The cross-attention over the caption, or null (a class-conditioned block). */
    public MultiHeadAttention cross() {
        return cross;
    }

    /** x [B, T, D], c [B, D] -> [B, T, D]. */
    public PtNDArray forward(PtNDArray x, PtNDArray c, ForwardContext ctx) {
        PtNDArray[] mod = modulate(c);
        x = Ops.add(x, attentionBranch(x, mod, ctx));
        return Ops.add(x, mlpBranch(x, mod, ctx));
    }

    /** x [B, T, D], c [B, D], caption memory [B, Tk, D] and its key bias [B, 1, 1, Tk] -> [B, T, D]. */
    public PtNDArray forward(PtNDArray x, PtNDArray c, PtNDArray memory, PtNDArray bias, ForwardContext ctx) {
        PtNDArray[] mod = modulate(c);
        x = Ops.add(x, attentionBranch(x, mod, ctx));
        x = Ops.add(x, crossBranch(x, memory, bias, ctx));
        return Ops.add(x, mlpBranch(x, mod, ctx));
    }

    /** cross(ln_cross(x), memory, bias): under tensor parallelism this rank's heads' part. */
    public PtNDArray crossBranch(PtNDArray x, PtNDArray memory, PtNDArray bias, ForwardContext ctx) {
        return cross.forward(lnCross.forward(x), memory, bias, ctx, null);
    }

    /** gate_msa * attn(modulate(norm(x), shift_msa, scale_msa)): under tensor parallelism this rank's heads' part. */
    public PtNDArray attentionBranch(PtNDArray x, PtNDArray[] mod, ForwardContext ctx) {
        PtNDArray h = attn.forward(shiftScale.apply(x, mod[0], mod[1]), null, null, ctx, null);
        return Ops.mul(mod[2], h);
    }

    /** gate_mlp * mlp(modulate(norm(x), shift_mlp, scale_mlp)): under tensor parallelism its hidden units' part. */
    public PtNDArray mlpBranch(PtNDArray x, PtNDArray[] mod, ForwardContext ctx) {
        PtNDArray h = mlp.forward(shiftScale.apply(x, mod[3], mod[4]), ctx);
        return Ops.mul(mod[5], h);
    }

    /** The six modulation vectors of c [B, D], each [B, 1, D] (broadcast over the tokens). */
    public PtNDArray[] modulate(PtNDArray c) {
        return chunks(modulation, c, 6);
    }

    /** Linear(silu(c)) [B, k D] cut into k vectors [B, 1, D]. */
    static PtNDArray[] chunks(ZeroLinear layer, PtNDArray c, int k) {
        long b = c.getShape().get(0);
        PtNDArray all = Ops.reshape(layer.forward(silu(c)), b, k, -1);
        PtNDArray[] out = new PtNDArray[k];
        for (int i = 0; i < k; i++) {
            out[i] = Ops.slice(all, 1, i, i + 1);
        }
        return out;
    }

    /** silu(x) = x sigmoid(x). */
    static PtNDArray silu(PtNDArray x) {
        return Ops.mul(x, JniUtils.sigmoid(x));
    }
}
