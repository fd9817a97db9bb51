package io.megalith.core.nn;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/** A lookup table [count, dim]; not weight-decayed. */
public final class Embedding extends Module {
    private final Parameter weight;

    public Embedding(String prefix, long count, long dim, double std) {
        super(prefix);
        this.weight = parameter("weight", new long[] {count, dim}, Init.normal(std), false);
    }

    public PtNDArray forward(PtNDArray ids) {
        return Ops.embedding(ids, weight.value());
    }

    public Parameter weight() {
        return weight;
    }
}
