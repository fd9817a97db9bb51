package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;

/** The feed-forward block: proj(gelu(fc(x))), hidden width 4C. */
public final class Mlp extends Module {
    private final GptConfig cfg;
    private final Linear fc;
    private final Linear proj;

    public Mlp(String prefix, GptConfig cfg) {
        this(prefix, cfg, TpLayout.SINGLE);
    }

    /** Tensor-parallel: fc column-parallel (a slice of the 4C hidden units), proj row-parallel (a partial sum). */
    public Mlp(String prefix, GptConfig cfg, TpLayout tp) {
        super(prefix);
        this.cfg = cfg;
        long c = cfg.nEmbd();
        double residualStd = 0.02 / Math.sqrt(2.0 * cfg.nLayer());
        if (tp.parallel()) {
            long[] hidden = tp.part(4 * c);
            this.fc = child(Linear.columnParallel(childName("fc"), c, 4 * c, cfg.bias(), 0.02, new long[][] {hidden}, tp));
            this.proj = child(Linear.rowParallel(childName("proj"), 4 * c, c, cfg.bias(), residualStd, hidden, tp));
        } else {
            this.fc = child(new Linear(childName("fc"), c, 4 * c, cfg.bias(), 0.02));
            this.proj = child(new Linear(childName("proj"), 4 * c, c, cfg.bias(), residualStd));
        }
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
