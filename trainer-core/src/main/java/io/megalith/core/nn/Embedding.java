package io.megalith.core.nn;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;
import java.util.Arrays;

/** A lookup table [count, dim]; not weight-decayed. */
public final class Embedding extends Module {
    private final Parameter weight;

    private long first;
    private long rows;
    private boolean vocabParallel;

    public Embedding(String prefix, long count, long dim, double std) {
        super(prefix);
        this.weight = parameter("weight", new long[] {count, dim}, Init.normal(std), false);
        this.first = 0;
        this.rows = count;
        this.vocabParallel = false;
    }

    /** The vocab-parallel table's rows [from, to) = {@code range} of [count, dim]: see {@link #parallelize}. */
    public Embedding(String prefix, long count, long dim, double std, long[] range) {
        this(prefix, count, dim, std);
        parallelize(range);
    }

    /**
     * Megatron's vocab-parallel embedding, made from this whole table before its storage is laid out: this rank
     * keeps rows [from, to) = {@code range} and looks up only the ids in its range (zeros elsewhere), so the sum
     * over the group is the full lookup.
     */
    public Embedding parallelize(long[] range) {
        weight.slice(0, new long[][] {range});
        this.first = range[0];
        this.rows = range[1] - range[0];
        this.vocabParallel = true;
        return this;
    }

    public PtNDArray forward(PtNDArray ids) {
        if (!vocabParallel) {
            return Ops.embedding(ids, weight.value());
        }
        long[] all = ids.toLongArray();
        long[] local = new long[all.length];
        float[] mask = new float[all.length];
        for (int i = 0; i < all.length; i++) {
            long l = all[i] - first;
            boolean mine = l >= 0 && l < rows;
            local[i] = mine ? l : 0;
            mask[i] = mine ? 1f : 0f;
        }
        long[] shape = ids.getShape().getShape();
        long[] maskShape = Arrays.copyOf(shape, shape.length + 1);
        maskShape[shape.length] = 1;
        PtNDArray found = Ops.embedding(Ops.longs(ids.getManager(), local, shape), weight.value());
        return Ops.mul(found, Ops.floats(ids.getManager(), mask, maskShape));
    }

    /** First row of the full table this rank holds (0 unless vocab-parallel). */
    public long firstRow() {
        return first;
    }

    public Parameter weight() {
        return weight;
    }
}
