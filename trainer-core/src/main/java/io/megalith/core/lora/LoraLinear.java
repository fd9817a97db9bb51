package io.megalith.core.lora;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.Init;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.ColumnParallelLinear;
import io.megalith.core.tensorparallel.RowParallelLinear;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.List;

/**
 * A linear layer with an optional low-rank adapter: y = W x + b + (alpha / r) B A x, A [r, in], B [out, r].
 *
 * <p>The base layer keeps its plain {@link Linear} names ({@code <name>.weight}, {@code <name>.bias}), so a
 * checkpoint of the model without adapters loads into it; the adapter adds {@code <name>.lora_a} and
 * {@code <name>.lora_b}. A starts normal(0, 1/sqrt(in)) (the scale of PEFT's kaiming-uniform init with
 * a = sqrt(5), whose bound is 1/sqrt(in)) and B starts at zero, so a fresh adapter leaves the output unchanged.
 * Without an adapter (the config does not target this layer) it is exactly {@link Linear}.
 *
 * <p>Under tensor parallelism (Megatron's column- and row-parallel layers) the adapter is split so that the
 * ranks compute exactly the one-rank layer, with no collective of its own (write s = alpha / r, rank i of tp):
 * <ul>
 *   <li>column-parallel, W split by output rows W_i (the ranges {@code outRanges}), input x replicated:
 *       y_i = W_i x + b_i + s B_i (A x). B is sliced by the same output rows (B_i, a SLICE of [out, r] along
 *       dim 0); A is replicated. dA on rank i is s B_i^T dy_i x^T, B_i's share of the one-rank
 *       dA = s B^T dy x^T = sum_i s B_i^T dy_i x^T, so A is PARTIAL (its gradient summed over the group);
 *       dx_i = W_i^T dy_i + s A^T B_i^T dy_i sums to the one-rank dx in the layer's backward all-reduce.
 *   <li>row-parallel, W split by input columns W_i (the range {@code inRange}), input x_i this rank's columns,
 *       output a partial sum all-reduced at the segment boundary: y_i = W_i x_i + b/tp + s B (A_i x_i), and
 *       sum_i y_i = W x + b + s B A x because A x = sum_i A_i x_i. A is sliced by the same input columns (A_i, a
 *       SLICE of [r, in] along dim 1, initialised as that slice of the one-rank A); B is replicated and PARTIAL:
 *       dB on rank i is s dy (A_i x_i)^T, whose sum over ranks is the one-rank s dy (A x)^T. The adapter term
 *       is not divided by tp as the bias is: it is linear in the partial input x_i.
 * </ul>
 * Sequence parallelism changes nothing here: a column-parallel layer's input is gathered along the sequence
 * before it, a row-parallel layer's output reduce-scattered after it. {@link #merge()} is local too:
 * W_i += s B_i A (column) and W_i += s B A_i (row) are each rank's slice of W += s B A.
 */
public final class LoraLinear extends Module {
    public static final String A = "lora_a";
    public static final String B = "lora_b";
    private final Linear base;
    private final Parameter a;
    private final Parameter b;
    private final float scale;
    private PtNDArray scaleTensor;

    public LoraLinear(String prefix, long in, long out, boolean bias, double std, LoraConfig lora) {
        super(prefix);
        this.base = child(new Linear(prefix, in, out, bias, std));
        if (!lora.applies(prefix)) {
            this.a = null;
            this.b = null;
            this.scale = 0f;
            return;
        }
        long r = lora.rank();
        this.a = parameter(A, new long[] {r, in}, Init.normal(1.0 / Math.sqrt(in)), true);
        this.b = parameter(B, new long[] {out, r}, Init.zeros(), true);
        this.scale = (float) lora.scale();
    }

    /**
     * Megatron's column-parallel linear ({@link ColumnParallelLinear}) keeping output features {@code outRanges},
     * its adapter's B sliced by the same rows and A replicated (see the class comment); with a single-rank layout
     * the plain layer.
     */
    public static LoraLinear columnParallel(String prefix, long in, long out, boolean bias, double std, long[][] outRanges,
            TpLayout tp, LoraConfig lora) {
        LoraLinear l = new LoraLinear(prefix, in, out, bias, std, lora);
        return tp.parallel() ? l.parallelize(ColumnParallelLinear.slice(outRanges, tp)) : l;
    }

    /**
     * Megatron's row-parallel linear ({@link RowParallelLinear}) keeping input features {@code inRange}, its
     * adapter's A sliced by the same columns and B replicated (see the class comment).
     */
    public static LoraLinear rowParallel(String prefix, long in, long out, boolean bias, double std, long[] inRange,
            TpLayout tp, LoraConfig lora) {
        LoraLinear l = new LoraLinear(prefix, in, out, bias, std, lora);
        return tp.parallel() ? l.parallelize(RowParallelLinear.slice(inRange, tp)) : l;
    }

    /**
     * Keeps {@code slice} of this whole layer (before its storage is laid out): the base as
     * {@link Linear#parallelize}, the adapter split with it (see the class comment). The init's scale stays the
     * one-rank layer's: a row-parallel rank's A is its slice of the one-rank A.
     */
    public LoraLinear parallelize(Linear.Slice slice) {
        base.parallelize(slice);
        if (a == null) {
            return this;
        }
        if (slice.dim() == 0) {
            b.slice(0, slice.ranges());
            a.shard(Parameter.Sharding.PARTIAL);
        } else {
            a.slice(1, slice.ranges());
            b.shard(Parameter.Sharding.PARTIAL);
        }
        return this;
    }

    public PtNDArray forward(PtNDArray x) {
        PtNDArray y = base.forward(x);
        if (a == null) {
            return y;
        }
        if (scaleTensor == null) {
            scaleTensor = Ops.scalar(a.value().getManager(), scale);
            NDScope.unregister(scaleTensor);
        }
        // Y = XW^T + b + s (X A^T) B^T, rows of X the tokens. Column-parallel: W, b, B this rank's output rows, A
        // whole (X whole). Row-parallel: W, A this rank's input columns (X this rank's columns), b / tp, B whole:
        // the partial sums add up to the one-rank Y in the all-reduce after the layer.
        PtNDArray low = Ops.linear(Ops.linear(x, a.value(), null), b.value(), null);
        return Ops.add(y, Ops.mul(low, scaleTensor));
    }

    public boolean hasAdapter() {
        return a != null;
    }

    public Linear base() {
        return base;
    }

    /** The adapter's parameters (A, B), empty without an adapter. */
    public List<Parameter> adapterParameters() {
        return a == null ? List.of() : List.of(a, b);
    }

    /**
     * Folds the adapter into the base weight in place, W += (alpha / r) B A, and zeroes B, so the layer computes
     * the same function with no adapter work left (and training can continue with a fresh delta). Local under
     * tensor parallelism: B_i A (column-parallel) and B A_i (row-parallel) are this rank's slice of B A, and every
     * rank zeroes its B (a replica of B stays equal on every rank).
     */
    public void merge() {
        if (a == null) {
            return;
        }
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope()) {
            PtNDArray w = base.weight().value();
            // column: [out_i, r] x [r, in] = W_i's shape; row: [out, r] x [r, in_i] = W_i's shape
            PtNDArray delta = Ops.mul(Ops.matmul(b.value(), a.value()), Ops.scalar(w.getManager(), scale));
            Ops.addInPlace(w, delta);
            Ops.addInPlace(b.value(), Ops.neg(b.value()));
        }
    }
}
