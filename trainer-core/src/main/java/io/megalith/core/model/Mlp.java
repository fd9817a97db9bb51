package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/** The feed-forward block: proj(gelu(fc(x))), hidden width 4C. */
public final class Mlp extends Module {
    private final GptConfig cfg;
    private final Linear fc;
    private final Linear proj;

    public Mlp(String prefix, GptConfig cfg) {
        super(prefix);
        this.cfg = cfg;
        this.fc = child(new Linear(childName("fc"), cfg.nEmbd(), 4L * cfg.nEmbd(), cfg.bias(), 0.02));
        this.proj = child(new Linear(childName("proj"), 4L * cfg.nEmbd(), cfg.nEmbd(), cfg.bias(),
                0.02 / Math.sqrt(2.0 * cfg.nLayer())));
    }

    public PtNDArray forward(PtNDArray x, ForwardContext ctx) {
        return ctx.dropout(proj.forward(Ops.gelu(fc.forward(x))), cfg.dropout(), prefix() + ".resid");
    }
}
