package io.megalith.core.model.transformer;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * proj(gelu(fc(x))) with hidden width 4C: {@link io.megalith.core.model.Mlp}'s computation and names
 * ({@code fc}, {@code proj}), with {@link LoraLinear} projections so LoRA can target {@code mlp.fc} and
 * {@code mlp.proj}.
 */
public final class FeedForward extends Module {
    private final LayerSpec spec;
    private final LoraLinear fc;
    private final LoraLinear proj;

    public FeedForward(String prefix, LayerSpec spec) {
        this(prefix, spec, TpLayout.SINGLE);
    }

    /** Tensor-parallel as {@link io.megalith.core.model.Mlp}: fc column-parallel, proj row-parallel (a partial sum). */
    public FeedForward(String prefix, LayerSpec spec, TpLayout tp) {
        super(prefix);
        this.spec = spec;
        long c = spec.nEmbd();
        long[] hidden = tp.part(4 * c);
        this.fc = child(LoraLinear.columnParallel(childName("fc"), c, 4 * c, spec.bias(), 0.02, new long[][] {hidden}, tp,
                spec.lora()));
        this.proj = child(LoraLinear.rowParallel(childName("proj"), 4 * c, c, spec.bias(), spec.residualStd(), hidden, tp,
                spec.lora()));
    }

    public PtNDArray forward(PtNDArray x, ForwardContext ctx) {
        return ctx.dropout(proj.forward(Ops.gelu(fc.forward(x))), spec.dropout(), prefix() + ".resid");
    }
}
