package io.megalith.core.family;

import io.megalith.comm.RankGroups;
import io.megalith.core.config.Checks;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.train.RankRun;
import java.io.IOException;
import java.io.PrintStream;
import org.apache.hadoop.conf.Configuration;

/**
 * One model family ({@code model.family}), registered by name in {@link ModelFamilies}: everything that varies by
 * family is asked of it (as torchtitan asks a TrainSpec), so no code outside the registry compares family names.
 * The capability methods default to what a family without the GPT's parallel layouts supports.
 */
public interface ModelFamily {
    /** What the family's model learns: decides how its run trains and how {@code megalith generate} runs it. */
    enum Objective {
        /** Next-token prediction (a causal LM): generates text after a prompt. */
        NEXT_TOKEN,
        /** Masked tokens (masked LM) or sequence labels: an encoder, which does not generate. */
        MASKED_TOKENS,
        /** Source to target: decodes a target string for each source string. */
        SOURCE_TO_TARGET
    }

    /** The {@code model.family} value; also the name checkpoints store (RunState.family). */
    String name();

    /** How messages name the model (e.g. "GPT"). */
    String modelName();

    Objective objective();

    /** Adds to {@code c} the problems of {@code cfg} specific to this family (layouts: the capabilities below). */
    void checkConfig(MegalithConfig cfg, Checks c);

    /** Parameters of the whole model for a vocabulary of {@code vocab} tokens (megalith train --dry-run). */
    long parameterCount(MegalithConfig.Model m, long vocab);

    /** Transformer layers, each holding one micro-batch's activations (the dry run's activation estimate). */
    int layers(MegalithConfig.Model m);

    /** The training run of one rank of a job. */
    RankRun newRun(MegalithConfig cfg, Configuration hadoop, PrintStream console, RankGroups groups, boolean leader,
            String preparedData) throws IOException;

    /** The training run of launch.master inprocess: the only rank, in this JVM. */
    default RankRun newInProcessRun(MegalithConfig cfg, Configuration hadoop, PrintStream console)
            throws IOException {
        return newRun(cfg, hadoop, console, RankGroups.single(), true, null);
    }

    /** Whether it splits into pipeline stages (parallel.pp > 1). */
    default boolean pipelineParallel() {
        return false;
    }

    /** Whether it has MoE blocks (model.moe) and splits their experts over ranks (parallel.ep > 1). */
    default boolean mixtureOfExperts() {
        return false;
    }

    /** Whether it runs with parallel.sequence_parallel. */
    default boolean sequenceParallel() {
        return false;
    }

    /** The highest zero.stage it trains with. */
    default int maxZeroStage() {
        return 1;
    }

    /** Whether runtime.workers threads may split its micro-batches. */
    default boolean workerThreads() {
        return false;
    }

    /** Whether data.task pairs means prompt -> answer fine-tuning of this model (loss on the answers). */
    default boolean promptAnswerPairs() {
        return false;
    }

    /** Whether it pre-trains a next-sentence prediction head (model.nsp). */
    default boolean nextSentencePrediction() {
        return false;
    }

    /** Whether it classifies sequences (data.task classify | speakers). */
    default boolean sequenceClassification() {
        return false;
    }

    /** Whether {@code family} (a config's or a checkpoint's model.family) is this family. */
    default boolean named(String family) {
        return name().equals(family);
    }
}
