package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/** The feed-forward block: proj(gelu(fc(x))), hidden width 4C. */
public final class Mlp extends Module {
    private final GptConfig cfg;
    private final LoraLinear fc;
    private final LoraLinear proj;

    /** With LoRA adapters on the layers {@code lora} targets ({@code mlp.fc}, {@code mlp.proj}). */
    public Mlp(String prefix, GptConfig cfg, LoraConfig lora) {
        super(prefix);
        this.cfg = cfg;
        long c = cfg.nEmbd();
        double residualStd = 0.02 / Math.sqrt(2.0 * cfg.nLayer());
        this.fc = child(new LoraLinear(childName("fc"), c, 4 * c, cfg.bias(), 0.02, lora));
        this.proj = child(new LoraLinear(childName("proj"), 4 * c, c, cfg.bias(), residualStd, lora));
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
        return ctx.dropout(forwardBeforeDropout(x), cfg.dropout(), prefix() + ".resid");
    }

    /** proj(gelu(fc(x))) without the residual dropout (sequence parallelism applies it to its shard). */
    public PtNDArray forwardBeforeDropout(PtNDArray x) {
        return proj.forward(Ops.gelu(fc.forward(x)));
    }

    /** The residual dropout of positions [t0, t0 + T') of the output, y [B, T', C], {@code rowOffset} = t0 C. */
    public PtNDArray residualDropout(PtNDArray y, ForwardContext ctx, long rowOffset) {
        return ctx.dropout(y, cfg.dropout(), prefix() + ".resid", rowOffset);
    }
}
