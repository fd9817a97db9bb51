package io.megalith.core.train;

import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.tensor.HostTensor;
import java.util.Map;

/**
 * What a {@link TrainingRun} asks of its trainer, whichever family it trains: optimizer steps, what checkpoints save
 * and load ({@link ShardedCheckpointer.Source}) and the one-rank model's parameters. {@link Trainer} (the GPT: DP, TP,
 * PP, EP, SP, ZeRO 0-3) and {@link SegmentTrainer} (a list of segments: DP, TP, ZeRO-1) implement it.
 */
public interface RunTrainer extends ShardedCheckpointer.Source, AutoCloseable {
    /** Optimizer step {@code step} (0-based) over train.grad_accum micro-batches of the step's global batch. */
    Trainer.StepStats step(long step);

    /** How many optimizer steps AdamW has taken (its bias correction; the checkpoint records it). */
    long optimizerSteps();

    /** The one-rank model's parameters by name (a collective under tensor/pipeline parallelism and ZeRO-3). */
    Map<String, HostTensor> fullParameters();

    @Override
    void close();
}
