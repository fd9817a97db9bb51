package io.megalith.core.lora;

import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.Init;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;

/**
 * A linear layer with an optional low-rank adapter: y = W x + b + (alpha / r) B A x, A [r, in], B [out, r].
 *
 * <p>The base layer keeps its plain {@link Linear} names ({@code <name>.weight}, {@code <name>.bias}), so a
 * checkpoint of the model without adapters loads into it; the adapter adds {@code <name>.lora_a} and
 * {@code <name>.lora_b}. A starts normal(0, 1/sqrt(in)) (the scale of PEFT's kaiming-uniform init with
 * a = sqrt(5), whose bound is 1/sqrt(in)) and B starts at zero, so a fresh adapter leaves the output unchanged.
 * Without an adapter (the config does not target this layer) it is exactly {@link Linear}.
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
        this(prefix, new Linear(prefix, in, out, bias, std), in, out, lora);
    }

    /**
     * Megatron's column-parallel linear ({@link Linear#columnParallel}) keeping output features {@code outRanges};
     * with a single-rank layout the plain layer. LoRA adapters are not supported on a sharded layer yet.
     */
    public static LoraLinear columnParallel(String prefix, long in, long out, boolean bias, double std, long[][] outRanges,
            io.megalith.core.tensorparallel.TpLayout tp, LoraConfig lora) {
        if (!tp.parallel()) {
            return new LoraLinear(prefix, in, out, bias, std, lora);
        }
        requireNoAdapter(prefix, lora);
        return new LoraLinear(prefix, Linear.columnParallel(prefix, in, out, bias, std, outRanges, tp), in, out, lora);
    }

    /** Megatron's row-parallel linear ({@link Linear#rowParallel}) keeping input features {@code inRange}. */
    public static LoraLinear rowParallel(String prefix, long in, long out, boolean bias, double std, long[] inRange,
            io.megalith.core.tensorparallel.TpLayout tp, LoraConfig lora) {
        if (!tp.parallel()) {
            return new LoraLinear(prefix, in, out, bias, std, lora);
        }
        requireNoAdapter(prefix, lora);
        return new LoraLinear(prefix, Linear.rowParallel(prefix, in, out, bias, std, inRange, tp), in, out, lora);
    }

    private static void requireNoAdapter(String prefix, LoraConfig lora) {
        if (lora.applies(prefix)) {
            throw new UnsupportedOperationException("LoRA adapter on " + prefix + " under tensor parallelism is not "
                    + "supported yet: run LoRA fine-tuning with tp 1");
        }
    }

    private LoraLinear(String prefix, Linear base, long in, long out, LoraConfig lora) {
        super(prefix);
        this.base = child(base);
        if (lora.applies(prefix)) {
            this.a = parameter(A, new long[] {lora.rank(), in}, Init.normal(1.0 / Math.sqrt(in)), true);
            this.b = parameter(B, new long[] {out, lora.rank()}, Init.zeros(), true);
            this.scale = (float) lora.scale();
        } else {
            this.a = null;
            this.b = null;
            this.scale = 0f;
        }
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
    public java.util.List<Parameter> adapterParameters() {
        return a == null ? java.util.List.of() : java.util.List.of(a, b);
    }

    /**
     * Folds the adapter into the base weight in place, W += (alpha / r) B A, and zeroes B, so the layer computes
     * the same function with no adapter work left (and training can continue with a fresh delta).
     */
    public void merge() {
        if (a == null) {
            return;
        }
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope()) {
            PtNDArray w = base.weight().value();
            PtNDArray delta = Ops.mul(Ops.matmul(b.value(), a.value()), Ops.scalar(w.getManager(), scale));
            Ops.addInPlace(w, delta);
            Ops.addInPlace(b.value(), Ops.neg(b.value()));
        }
    }
}
