package io.megalith.core.nn;

import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.tensor.Ops;

/** LayerNorm over the last dimension with a learned scale and an optional bias (nanoGPT's LayerNorm). */
public final class LayerNorm extends Module {
    public static final double EPS = 1e-5;
    private final Parameter weight;
    private final Parameter bias;
    private PtNDArray zeroBias; // DJL's layer_norm binding needs a bias tensor even when there is none

    public LayerNorm(String prefix, long dim, boolean bias) {
        this(prefix, dim, bias, false);
    }

    /** With {@code partialGradients}, its parameters are {@link #markPartial marked partial}. */
    public LayerNorm(String prefix, long dim, boolean bias, boolean partialGradients) {
        super(prefix);
        this.weight = parameter("weight", new long[] {dim}, Init.ones(), false);
        this.bias = bias ? parameter("bias", new long[] {dim}, Init.zeros(), false) : null;
        if (partialGradients) {
            markPartial();
        }
    }

    /**
     * Marks the scale and bias PARTIAL: each tensor-parallel rank sees only its part of the gradient flowing into
     * this norm (it sits inside a segment whose input gradient is summed over the group, or reads a sequence shard),
     * so its parameters' gradients are summed over the group.
     */
    public LayerNorm markPartial() {
        for (Parameter p : parameters()) {
            p.shard(Parameter.Sharding.PARTIAL);
        }
        return this;
    }

    public PtNDArray forward(PtNDArray x) {
        return Ops.layerNorm(x, weight.value(), bias == null ? zeroBias() : bias.value(), EPS);
    }

    private PtNDArray zeroBias() {
        if (zeroBias == null) {
            PtNDArray w = weight.value();
            PtNDArray z = JniUtils.zerosLike(w, DataType.FLOAT32, w.getDevice(), SparseFormat.DENSE);
            NDScope.unregister(z);
            zeroBias = z;
        }
        return zeroBias;
    }
}
