package io.megalith.core.nn;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * y = x W^T + b, W of shape [out, in] as in torch.nn.Linear; or this rank's {@link Slice} of such a layer, split
 * along its output features (dim 0: Megatron's column-parallel linear) or its input features (dim 1: row-parallel).
 * The slices' parameters declare their {@link Parameter.Sharding} in the one-rank layer's terms; a dim-1 slice
 * computes a partial sum of the output, so its bias is added as b/ranks on every rank and the sum carries it once.
 * {@code tensorparallel.ColumnParallelLinear} and {@code RowParallelLinear} build the slices of a tensor-parallel
 * rank and say what crosses the group around them.
 */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final float biasScale;
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
        this(prefix, in, out, bias, std, null);
    }

    /** This rank's {@code slice} of a [out, in] layer (null: the whole layer). */
    public static Linear sliced(String prefix, long in, long out, boolean bias, double std, Slice slice) {
        return new Linear(prefix, in, out, bias, std, slice);
    }

    private Linear(String prefix, long in, long out, boolean bias, double std, Slice slice) {
        super(prefix);
        boolean column = slice != null && slice.dim() == 0;
        boolean row = slice != null && slice.dim() == 1;
        long localOut = column ? slice.size() : out;
        long localIn = row ? slice.size() : in;
        this.weight = parameter("weight", new long[] {localOut, localIn}, Init.normal(std), true);
        if (slice != null) {
            weight.shard(Parameter.Sharding.slice(new long[] {out, in}, slice.dim(), slice.ranges()));
        }
        this.bias = bias ? parameter("bias", new long[] {localOut}, Init.zeros(), false) : null;
        if (this.bias != null && column) {
            this.bias.shard(Parameter.Sharding.slice(new long[] {out}, 0, slice.ranges()));
        } else if (this.bias != null && row) {
            this.bias.shard(Parameter.Sharding.PARTIAL);
        }
        this.biasScale = row ? 1f / slice.ranks() : 1f;
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
