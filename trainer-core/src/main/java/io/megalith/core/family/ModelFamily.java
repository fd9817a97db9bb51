package io.megalith.core.family;

import io.megalith.comm.RankGroups;
import io.megalith.core.config.FamilyRules;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import io.megalith.core.train.TrainingRun;
import java.io.IOException;
import java.io.PrintStream;
import org.apache.hadoop.conf.Configuration;

/**
 * One model family ({@code model.family}), registered by name in {@link ModelFamilies}: everything that varies by
 * family is asked of it (as torchtitan asks a TrainSpec), so no code outside the registry compares family names.
 * Its name, config checks and capabilities are the {@link FamilyRules} that config validation applies; the rest
 * is what training, the dry run and generation ask of it ({@link #loadTrained}: one {@code megalith generate} entry
 * for every family). Runs get what they need (the objective) from it.
 */
public interface ModelFamily extends FamilyRules {
    /** How messages name the model (e.g. "GPT"). */
    String modelName();

    /** What the family's model learns: decides how its run trains and how {@code megalith generate} runs it. */
    Objective objective();

    /** Parameters of the whole model for a vocabulary of {@code vocab} tokens (megalith train --dry-run). */
    long parameterCount(MegalithConfig.Model m, long vocab);

    /** Parameters of the whole model {@code cfg} trains (a family whose model depends on its data task overrides). */
    default long parameterCount(MegalithConfig cfg, long vocab) {
        return parameterCount(cfg.model(), vocab);
    }

    /** Transformer layers, each holding one micro-batch's activations (the dry run's activation estimate). */
    default int layers(MegalithConfig.Model m) {
        return m.nLayer();
    }

    /**
     * This family's part of a training run on one rank: its model split by its plan, its trainer, data, evaluation,
     * samples and LoRA check. The {@link TrainingRun} around it is every family's.
     */
    RankModel rankModel(RankModel.Context context) throws IOException;

    /** The training run of one rank of a job. */
    default TrainingRun newRun(MegalithConfig cfg, Configuration hadoop, PrintStream console, RankGroups groups,
            boolean leader, String preparedData) throws IOException {
        return new TrainingRun(this::rankModel, cfg, hadoop, console, groups, leader, preparedData);
    }

    /** The training run of launch.master inprocess: the only rank, in this JVM. */
    default TrainingRun newInProcessRun(MegalithConfig cfg, Configuration hadoop, PrintStream console)
            throws IOException {
        return newRun(cfg, hadoop, console, RankGroups.single(), true, null);
    }

    /**
     * The run {@code which} names as this family's model, loaded on one rank from that checkpoint (the latest
     * complete one unless a step is given): what {@code megalith generate} runs. A family whose model does not generate refuses, saying what to do instead.
     */
    TrainedModel loadTrained(RunCheckpoint which, Configuration hadoop, int threads) throws IOException;
}
