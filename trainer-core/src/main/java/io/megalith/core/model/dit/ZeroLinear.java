package io.megalith.core.model.dit;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.Init;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;

/**
 * y = x W^T + b with W [out, in] and b starting at exactly 0 (adaLN-Zero's modulations and DiT's final projection):
 * the layer outputs 0 until training moves it. Replicated under tensor parallelism.
 */
public final class ZeroLinear extends Module {
    private final Parameter weight;
    private final Parameter bias;

    public ZeroLinear(String prefix, long in, long out) {
        super(prefix);
        this.weight = parameter("weight", new long[] {out, in}, Init.zeros(), true);
        this.bias = parameter("bias", new long[] {out}, Init.zeros(), false);
    }

    public PtNDArray forward(PtNDArray x) {
        return Ops.linear(x, weight.value(), bias.value());
    }

    public Parameter weight() {
        return weight;
    }
}
