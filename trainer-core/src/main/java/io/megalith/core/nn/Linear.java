package io.megalith.core.nn;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/** y = x W^T + b, W of shape [out, in] as in torch.nn.Linear. */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;

    public Linear(String prefix, long in, long out, boolean bias, double std) {
        super(prefix);
        this.weight = parameter("weight", new long[] {out, in}, Init.normal(std), true);
        this.bias = bias ? parameter("bias", new long[] {out}, Init.zeros(), false) : null;
    }

    public PtNDArray forward(PtNDArray x) {
        return Ops.linear(x, weight.value(), bias == null ? null : bias.value());
    }

    public Parameter weight() {
        return weight;
    }
}
