package io.megalith.core.nn;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * y = x W^T + b, W of shape [out, in] as in torch.nn.Linear; and Megatron's tensor-parallel variants:
 * <ul>
 *   <li>column-parallel: Y = XA with A split by columns (output features): this rank computes its
 *       output slice from the full input; forward identity, backward all-reduce of the input gradient;
 *   <li>row-parallel: Y = XA with A split by rows (input features): this rank multiplies its slice of
 *       the input and produces a partial sum of the full output; forward all-reduce, backward identity.
 * </ul>
 * The all-reduces happen at segment boundaries (see SegmentedPass); a row-parallel bias is added as
 * b/tp on every rank so that the sum carries it once.
 */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final float biasScale;
    private PtNDArray biasScaleTensor;

    public Linear(String prefix, long in, long out, boolean bias, double std) {
        this(prefix, in, out, bias, std, null, null, TpLayout.SINGLE);
    }

    /** A column-parallel linear keeping the output features {@code outRanges} (full coordinates). */
    public static Linear columnParallel(String prefix, long in, long out, boolean bias, double std, long[][] outRanges,
            TpLayout tp) {
        return new Linear(prefix, in, out, bias, std, outRanges, null, tp);
    }

    /** A row-parallel linear keeping the input features {@code inRange} (full coordinates). */
    public static Linear rowParallel(String prefix, long in, long out, boolean bias, double std, long[] inRange,
            TpLayout tp) {
        return new Linear(prefix, in, out, bias, std, null, new long[][] {inRange}, tp);
    }

    private Linear(String prefix, long in, long out, boolean bias, double std, long[][] outRanges, long[][] inRanges,
            TpLayout tp) {
        super(prefix);
        boolean column = tp.parallel() && outRanges != null;
        boolean row = tp.parallel() && inRanges != null;
        long localOut = column ? TpLayout.size(outRanges) : out;
        long localIn = row ? TpLayout.size(inRanges) : in;
        this.weight = parameter("weight", new long[] {localOut, localIn}, Init.normal(std), true);
        if (column) {
            weight.shard(Parameter.Sharding.slice(new long[] {out, in}, 0, outRanges));
        } else if (row) {
            weight.shard(Parameter.Sharding.slice(new long[] {out, in}, 1, inRanges));
        }
        this.bias = bias ? parameter("bias", new long[] {localOut}, Init.zeros(), false) : null;
        if (this.bias != null && column) {
            this.bias.shard(Parameter.Sharding.slice(new long[] {out}, 0, outRanges));
        } else if (this.bias != null && row) {
            this.bias.shard(Parameter.Sharding.PARTIAL);
        }
        this.biasScale = row ? 1f / tp.size() : 1f;
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
