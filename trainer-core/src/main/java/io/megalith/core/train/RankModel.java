package io.megalith.core.train;

import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.report.StepReport;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * A model family's part of a {@link TrainingRun} on one rank: its model (split by its plan), data and trainer, and
 * what the run asks of them (evaluation, samples, the checkpoint's training state, LoRA outputs). The run owns what
 * every family shares: resume, the step loop, metrics.jsonl, the loss chart, checkpoints and the run directory.
 * {@code ModelFamily.rankModel} builds it, so the run never asks which family it trains.
 */
public interface RankModel extends AutoCloseable {
    /** What a family builds its part from: the run's config and rank, and the newest checkpoint of run.dir if any. */
    record Context(MegalithConfig cfg, Configuration hadoop, PrintStream console, RankGroups groups, boolean leader,
            String preparedData, Optional<ShardedCheckpointer.Restored> latest) {}

    /** Builds a family's part of a run (a family's {@code rankModel}). */
    interface Builder {
        RankModel build(Context context) throws IOException;
    }

    /** A held-out evaluation: its metrics record figures, its console line (or null) and, at the end, samples. */
    record Evaluation(Map<String, Object> figures, String line, List<String> samples) {}

    /** The trainer the run steps and checkpoints. */
    Trainer trainer();

    /**
     * What checkpoints save and restore on this rank: the trainer's parameters and optimizer state, and any state the
     * family keeps beside them per parameter (the DiT's EMA of the weights).
     */
    default ShardedCheckpointer.Source checkpointed() {
        return trainer();
    }

    /** The parameter every pipeline stage but the first skips in checkpoints (the GPT's tied embedding), or null. */
    default Parameter tiedParameter() {
        return null;
    }

    /** Expert-parallel degree the checkpoint layout records. */
    default int expertParallel() {
        return 1;
    }

    /** Refuses a checkpoint restored (perhaps older than {@code latest}, which did not verify everywhere). */
    void checkRestored(ShardedCheckpointer.Restored latest, ShardedCheckpointer.Restored restored) throws IOException;

    /** A fresh start (nothing restored): loads the weights a run starts from (checkpoint.init_from), if any. */
    default void startFresh() throws IOException {}

    /** Files a fresh run's leader writes to run.dir besides config.yaml, by name. */
    default Map<String, byte[]> runFiles() throws IOException {
        return Map.of();
    }

    /** The training state a checkpoint at {@code step} records. */
    RunState state(long step);

    /** The tokenizer a checkpoint records (what a resume must match). */
    byte[] tokenizer() throws IOException;

    /** Prints what trains (data, model) when the run starts. */
    default void describe(PrintStream console) {}

    /** How steps show on the console (every rank has one; only the leader's may print). */
    StepReport progress(long startStep, long maxSteps);

    /** Adds this step's figures to its metrics record before evaluation (MoE routing, pipeline bubble, memory). */
    default void stepFigures(Map<String, Object> rec) {}

    /** Adds figures measured after evaluation (the trainer's memory) to the step's metrics record. */
    default void memoryFigures(Map<String, Object> rec) {}

    /** Whether the run evaluates once before the first step of a fresh run (a step 0 record). */
    default boolean evaluatesAtStart() {
        return false;
    }

    /**
     * Whether an evaluation's figures go into the step's own record; else they are a record of their own after it
     * (written when they hold a val_loss).
     */
    default boolean evaluationInStepRecord() {
        return false;
    }

    /**
     * The held-out evaluation after {@code step}, whose train loss was {@code loss} (null: no step just trained, before
     * the first or of a finished run evaluated again); with samples when {@code last}. Every rank calls it (gathering
     * parameters is a collective); null on a rank that does not evaluate.
     */
    Evaluation evaluate(long step, Double loss, boolean last) throws IOException;

    /** The check of the LoRA outputs written from the final checkpoint (finetune.lora.rank > 0, leader only). */
    LoraCheck loraCheck() throws IOException;

    /** The one-rank model's parameters by name (a collective under tensor parallelism). */
    default Map<String, HostTensor> fullParameters() {
        return trainer().fullParameters();
    }

    @Override
    void close();
}
