package io.megalith.core.moe;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/** One expert: the dense MLP's shape and init, proj(gelu(fc(x))) with hidden width 4C, no dropout of its own. */
public final class Expert extends Module {
    private final Linear fc;
    private final Linear proj;

    public Expert(String prefix, long width, boolean bias, double residualStd) {
        super(prefix);
        this.fc = child(new Linear(childName("fc"), width, 4 * width, bias, 0.02));
        this.proj = child(new Linear(childName("proj"), 4 * width, width, bias, residualStd));
    }

    /** Outputs [n, C] for the n tokens [n, C] routed here (n may be 0). */
    public PtNDArray forward(PtNDArray x) {
        return proj.forward(Ops.gelu(fc.forward(x)));
    }
}
