package io.megalith.core.nn;

import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Where a model's parameters live: replicated in one flat buffer ({@link ParameterStore}) or partitioned
 * over a data-parallel group ({@link io.megalith.core.zero.PartitionedParameters}). What a run needs from either.
 */
public interface ModelParameters extends AutoCloseable {
    /** The parameters in layout order. */
    List<Parameter> parameters();

    long numel();

    /** Every parameter in full, by name (partitioned storage gathers: a collective). */
    Map<String, HostTensor> toHost();

    /**
     * Copies the values of the parameters {@code which} selects into {@code out}, whole, by name (partitioned storage
     * gathers one group at a time: a collective, each rank with its own selection).
     */
    void copyValues(Predicate<Parameter> which, HostCopies out);

    /** Sets every parameter from full named tensors. */
    void load(Map<String, HostTensor> tensors);

    @Override
    void close();
}
