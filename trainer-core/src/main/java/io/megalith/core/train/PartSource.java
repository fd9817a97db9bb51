package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import io.megalith.core.moe.MoeStats;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.segment.Segment;
import java.util.List;

/**
 * What the {@link Trainer} trains: a model split by its plan into this rank's segments, and the step's data as
 * {@link Part}s of micro-batches. What only some models have is a capability here (defaults: none), never a family
 * test in the trainer: worker replicas, MoE routing statistics, a token embedding tied across pipeline stages
 * (pipeline stages themselves are a {@link Part} capability).
 */
public interface PartSource {
    /** Rows [first, first + count) (global row indices) of one micro-batch of step {@code step}. */
    interface Rows {
        Part part(long step, int first, int count);
    }

    /**
     * This rank's segments in forward order, each with the parameters it reads (a shape only: no batch): the
     * gradient buckets, the ZeRO groups and the hooks' segment indices follow it.
     */
    List<Segment> plan();

    /** Rows [first, first + count) of one micro-batch of step {@code step} (count > 0). */
    Part part(long step, int first, int count);

    /** The parameter shared by the first and last pipeline stage (summed over the embedding group), or null. */
    default Parameter tiedEmbedding() {
        return null;
    }

    /**
     * Whether it builds worker replicas (runtime.workers > 1 split a rank's rows over threads); without, its
     * micro-batches run on the calling thread.
     */
    default boolean hasReplicas() {
        return false;
    }

    /** A one-rank copy of the model for a worker thread, its parameters views of {@code primary}'s. */
    default Replica replica(ParameterStore primary, NDManager manager) {
        throw new UnsupportedOperationException("this model has no worker replicas");
    }

    /** A worker replica: the source over the copy and the store of its views (closed with the trainer). */
    record Replica(PartSource source, ParameterStore store) {}

    /** Rows [from, to) of {@code whole}, a part of the source this is a replica of, run on this replica. */
    default Part rowsOf(Part whole, int from, int to) {
        throw new UnsupportedOperationException("this model has no worker replicas");
    }

    /** Empty routing statistics for a step of an MoE model, else null. */
    default MoeStats newMoeStats() {
        return null;
    }

    /** A source over {@code plan} whose parts {@code rows} makes: a model with none of the capabilities. */
    static PartSource of(List<Segment> plan, Rows rows) {
        return new PartSource() {
            @Override
            public List<Segment> plan() {
                return plan;
            }

            @Override
            public Part part(long step, int first, int count) {
                return rows.part(step, first, count);
            }
        };
    }
}
