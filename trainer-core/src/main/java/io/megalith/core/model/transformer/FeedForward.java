package io.megalith.core.model.transformer;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/**
 * proj(gelu(fc(x))) with hidden width 4C: {@link io.megalith.core.model.Mlp}'s computation and names
 * ({@code fc}, {@code proj}), with {@link LoraLinear} projections so LoRA can target {@code mlp.fc} and
 * {@code mlp.proj}. A tensor-parallel plan may keep a slice of the hidden units (fc's rows, proj's columns): the
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
        this.fc = child(new LoraLinear(childName("fc"), c, 4 * c, spec.bias(), 0.02, spec.lora()));
        this.proj = child(new LoraLinear(childName("proj"), 4 * c, c, spec.bias(), spec.residualStd(), spec.lora()));
    }

    /** The expansion [4C, C]. */
    public LoraLinear fc() {
        return fc;
    }

    /** The projection back [C, 4C]. */
    public LoraLinear proj() {
        return proj;
    }

    public PtNDArray forward(PtNDArray x, ForwardContext ctx) {
        return ctx.dropout(proj.forward(Ops.gelu(fc.forward(x))), spec.dropout(), prefix() + ".resid");
    }
}
