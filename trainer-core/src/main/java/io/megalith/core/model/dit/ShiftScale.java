package io.megalith.core.model.dit;

import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;

/**
 * adaLN's modulate: norm(x) (1 + scale) + shift, norm a LayerNorm over the last dimension without affine parameters
 * (eps 1e-6, as DiT). Its constants are made once next to {@code anchor}'s storage.
 */
final class ShiftScale {
    static final double EPS = 1e-6;
    private final Parameter anchor;
    private final long dim;
    private PtNDArray ones;
    private PtNDArray zeros;
    private PtNDArray one;

    ShiftScale(Parameter anchor, long dim) {
        this.anchor = anchor;
        this.dim = dim;
    }

    /** x [B, T, D], shift and scale [B, 1, D]. */
    PtNDArray apply(PtNDArray x, PtNDArray shift, PtNDArray scale) {
        if (ones == null) {
            PtNDArray w = anchor.value();
            PtNDManager m = w.getManager();
            ones = JniUtils.createOnesNdArray(m, new Shape(dim), DataType.FLOAT32, w.getDevice(), SparseFormat.DENSE);
            zeros = JniUtils.createZerosNdArray(m, new Shape(dim), DataType.FLOAT32, w.getDevice(), SparseFormat.DENSE);
            one = Ops.scalar(m, 1f);
            NDScope.unregister(ones, zeros, one);
        }
        PtNDArray n = Ops.layerNorm(x, ones, zeros, EPS);
        return Ops.add(Ops.mul(n, Ops.add(scale, one)), shift);
    }
}
