package io.megalith.core.nn;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.HostTensor;
import java.util.Arrays;

/**
 * A trainable tensor with a stable hierarchical name ({@code blocks.3.attn.qkv.weight}).
 *
 * <p>Declared by a module with its shape and init; its storage is bound later by a
 * {@link ParameterStore}, which places all parameters in one flat buffer (so the optimizer, gradient
 * clipping and gradient communication each work on one contiguous tensor).
 */
public final class Parameter {
    private final String name;
    private final long[] shape; // local: a slice's shape once sliced
    private final Init init;
    private final boolean decay;
    private PtNDArray value;
    private Sharding sharding = Sharding.NONE;
    private long offset = -1;
    private boolean frozen;

    Parameter(String name, long[] shape, Init init, boolean decay) {
        this.name = name;
        this.shape = shape.clone();
        this.init = init;
        this.decay = decay;
    }

    public String name() {
        return name;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        return HostTensor.numel(shape);
    }

    public Init init() {
        return init;
    }

    /**
     * How a parameter relates to the one-rank model under tensor parallelism: not at all (NONE), a slice
     * of the full tensor along {@code dim} ({@code ranges} in full coordinates), or a replica whose
     * gradient on each rank is only a partial sum (PARTIAL: summed over the tensor-parallel group).
     */
    public record Sharding(Kind kind, long[] fullShape, int dim, long[][] ranges) {
        public enum Kind { NONE, SLICE, PARTIAL }

        public static final Sharding NONE = new Sharding(Kind.NONE, null, 0, null);
        public static final Sharding PARTIAL = new Sharding(Kind.PARTIAL, null, 0, null);

        public static Sharding slice(long[] fullShape, int dim, long[][] ranges) {
            return new Sharding(Kind.SLICE, fullShape.clone(), dim, ranges);
        }
    }

    public Sharding sharding() {
        return sharding;
    }

    /** Marks this parameter as a tensor-parallel slice or partial-gradient replica (by its module or a plan). */
    public Parameter shard(Sharding s) {
        this.sharding = s;
        return this;
    }

    /**
     * Re-declares this whole parameter as its slice {@code ranges} (full coordinates, concatenated) along {@code dim}:
     * its local shape shrinks to the kept features and {@link #initialValues} fills that slice of the one-rank
     * tensor, so a plan can split a model after construction. Only before storage is laid out.
     */
    public Parameter slice(int dim, long[][] ranges) {
        if (value != null || offset >= 0) {
            throw new IllegalStateException("parameter " + name + " already has storage: slice it before the layout");
        }
        if (sharding.kind() != Sharding.Kind.NONE) {
            throw new IllegalStateException("parameter " + name + " is already " + sharding.kind());
        }
        long kept = 0;
        for (long[] r : ranges) {
            if (r[0] < 0 || r[1] > shape[dim] || r[0] > r[1]) {
                throw new IllegalArgumentException("range " + Arrays.toString(r) + " of " + this + " along " + dim);
            }
            kept += r[1] - r[0];
        }
        long[] full = shape.clone();
        this.sharding = Sharding.slice(full, dim, ranges);
        this.shape[dim] = kept;
        return this;
    }

    /** Initial values of this (local) parameter: its slice of the full tensor when sliced. */
    public void initialValues(long seed, float[] out) {
        if (sharding.kind() == Sharding.Kind.SLICE) {
            init.fillShard(seed, name, sharding.fullShape(), sharding.dim(), sharding.ranges(), out);
        } else {
            init.fill(seed, name, 0, out);
        }
    }

    /** Whether AdamW's decoupled weight decay applies (matmul weights yes; biases, norms, embeddings no). */
    public boolean decay() {
        return decay;
    }

    /**
     * Excludes this parameter from training (fine-tuning: frozen layers, the base under LoRA adapters): a trainer
     * computes no gradient for it, communicates none and keeps no optimizer state for it; its value only changes
     * by loading. Set before the parameters are laid out in a store.
     */
    public Parameter freeze() {
        this.frozen = true;
        return this;
    }

    /** Whether {@link #freeze()} excluded this parameter from training. */
    public boolean frozen() {
        return frozen;
    }

    /** The live tensor (a view into the store's flat buffer). */
    public PtNDArray value() {
        if (value == null) {
            throw new IllegalStateException("parameter " + name + " has no storage: bind it with a ParameterStore, "
                    + "or (ZeRO-3) gather its group first");
        }
        return value;
    }

    /** Assigns the flat offset without storage (partitioned layouts bind storage later, per use). */
    public void place(long offset) {
        this.offset = offset;
    }

    /** Whether the parameter currently has storage (ZeRO-3 releases it between uses). */
    public boolean isBound() {
        return value != null;
    }

    /** Element offset of this parameter in its store's flat buffer. */
    public long offset() {
        return offset;
    }

    /**
     * Binds to storage (a view) at flat offset {@code offset}; a null view leaves the parameter placed but unbound.
     * Public for the storages outside this package (ZeRO's {@code PartitionedParameters}).
     */
    public void bind(PtNDArray view, long offset) {
        this.value = view;
        this.offset = offset;
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}
