package io.megalith.core.train;

import ai.djl.ndarray.types.Shape;
import io.megalith.comm.Communicator;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.pipeline.PipelineExecutor;
import io.megalith.core.segment.SegmentedPass;

/**
 * Rows of one micro-batch that one rank (or one of its worker threads) computes: its data, and how it runs through
 * the model's segments. A {@link PartSource} makes them; the {@link Trainer} runs them.
 */
public interface Part {
    /** Targets its loss is the mean over. */
    long scored();

    /** Input tokens it reads. */
    long tokens();

    /** Sequences (rows) it holds. */
    int rows();

    /**
     * Forward and backward of its share of the step's loss, the step having {@code stepScored} scored targets and
     * {@code stepRows} rows over all parts and ranks; {@code hooks} see every segment (ZeRO, bucket overlap).
     * Returns that share of the loss (its mean loss weighted by its share of the step's scored targets).
     */
    double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
            SegmentedPass.Recompute recompute, Communicator tensorParallel);

    /**
     * Pipeline parallelism (a model split into stages): this part's pass through this rank's stage (its input on the
     * first stage) and its share of the step's loss, for the {@link PipelineExecutor}.
     */
    default PipelineExecutor.MicroBatch stage(ForwardContext ctx, long stepScored, SegmentedPass.Hooks hooks,
            SegmentedPass.Recompute recompute, Communicator tensorParallel) {
        throw new UnsupportedOperationException("this model has no pipeline stages");
    }

    /** Pipeline parallelism: the shape of the activations this part's stages exchange. */
    default Shape stageActivation() {
        throw new UnsupportedOperationException("this model has no pipeline stages");
    }
}
