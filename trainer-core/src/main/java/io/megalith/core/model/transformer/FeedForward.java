package io.megalith.core.model.transformer;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/**
 * The feed-forward sub-layer, proj(gelu(fc(x))) with hidden width H = 4C (nanoGPT's MLP; names {@code fc},
 * {@code proj}; a structurally pruned model keeps fewer hidden units), with {@link LoraLinear} projections so LoRA can target {@code mlp.fc} and {@code mlp.proj}. A tensor-parallel plan may keep a slice of the hidden units (fc's rows, proj's columns): the
 * layer then computes their partial sum of the output.
 */
public final class FeedForward extends Module {
    private final LayerSpec spec;
    private final LoraLinear fc;
    private final LoraLinear proj;

    public FeedForward(String prefix, LayerSpec spec) {
        super(prefix);
        this.spec = spec;
        long c = spec.nEmbd();
        long h = spec.mlpHidden();
        this.fc = child(new LoraLinear(childName("fc"), c, h, spec.bias(), 0.02, spec.lora()));
        this.proj = child(new LoraLinear(childName("proj"), h, c, spec.bias(), spec.residualStd(), spec.lora()));
    }

    /** The expansion [H, C]. */
    public LoraLinear fc() {
        return fc;
    }

    /** The projection back [C, H]. */
    public LoraLinear proj() {
        return proj;
    }

    public PtNDArray forward(PtNDArray x, ForwardContext ctx) {
        return ctx.dropout(forwardBeforeDropout(x), spec.dropout(), prefix() + ".resid");
    }

    /** proj(gelu(fc(x))) without the residual dropout (sequence parallelism applies it to its shard). */
    public PtNDArray forwardBeforeDropout(PtNDArray x) {
        return proj.forward(Ops.gelu(fc.forward(x)));
    }

    /** The residual dropout of positions [t0, t0 + T') of the output, y [B, T', C], {@code rowOffset} = t0 C. */
    public PtNDArray residualDropout(PtNDArray y, ForwardContext ctx, long rowOffset) {
        return ctx.dropout(y, spec.dropout(), prefix() + ".resid", rowOffset);
    }
}
