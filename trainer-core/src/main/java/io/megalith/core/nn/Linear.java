package io.megalith.core.nn;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * y = x W^T + b, W of shape [out, in] as in torch.nn.Linear; or, once {@link #parallelize parallelized}, this rank's
 * {@link Slice} of such a layer, split along its output features (dim 0: Megatron's column-parallel linear) or its
 * input features (dim 1: row-parallel). The slices' parameters declare their {@link Parameter.Sharding} in the
 * one-rank layer's terms; a dim-1 slice computes a partial sum of the output, so its bias is added as b/ranks on
 * every rank and the sum carries it once. {@code tensorparallel.ColumnParallelLinear} and {@code RowParallelLinear}
 * say what crosses the group around them.
 */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private float biasScale = 1f;
    private PtNDArray biasScaleTensor;

    /**
     * The part of a [out, in] layer a rank keeps: index {@code ranges} (full coordinates, concatenated) along
     * {@code dim} of the weight, the layer being split over {@code ranks} ranks.
     */
    public record Slice(int dim, long[][] ranges, int ranks) {
        public Slice {
            if (dim != 0 && dim != 1) {
                throw new IllegalArgumentException("a linear layer is sliced along dim 0 or 1, not " + dim);
            }
        }

        /** Number of features kept. */
        public long size() {
            long n = 0;
            for (long[] r : ranges) {
                n += r[1] - r[0];
            }
            return n;
        }
    }

    public Linear(String prefix, long in, long out, boolean bias, double std) {
        super(prefix);
        this.weight = parameter("weight", new long[] {out, in}, Init.normal(std), true);
        this.bias = bias ? parameter("bias", new long[] {out}, Init.zeros(), false) : null;
    }

    /**
     * Keeps only {@code slice} of this whole layer (before its storage is laid out): column (dim 0) slices the weight's
     * rows and the bias with them; row (dim 1) slices the weight's columns and keeps the bias whole, PARTIAL and
     * added as b/ranks.
     */
    public Linear parallelize(Slice slice) {
        weight.slice(slice.dim(), slice.ranges());
        if (bias != null && slice.dim() == 0) {
            bias.slice(0, slice.ranges());
        } else if (bias != null) {
            bias.shard(Parameter.Sharding.PARTIAL);
        }
        this.biasScale = slice.dim() == 1 ? 1f / slice.ranks() : 1f;
        return this;
    }

    public PtNDArray forward(PtNDArray x) {
        if (bias == null || biasScale == 1f) {
            return Ops.linear(x, weight.value(), bias == null ? null : bias.value());
        }
        if (biasScaleTensor == null) {
            biasScaleTensor = Ops.scalar(weight.value().getManager(), biasScale);
            NDScope.unregister(biasScaleTensor);
        }
        return Ops.add(Ops.linear(x, weight.value(), null), Ops.mul(bias.value(), biasScaleTensor));
    }

    public Parameter weight() {
        return weight;
    }
}
