package io.megalith.core.config;

import java.util.List;

/**
 * What config validation asks of one model family ({@code model.family}): its name, its own checks and the layouts
 * and tasks it takes. The family registry ({@code family/ModelFamily} extends this) provides the registered
 * families as a {@link Catalog} service, so that config validates every family without depending on the registry.
 * The capabilities default to what a family without the GPT's parallel layouts supports.
 */
public interface FamilyRules {
    /** The {@code model.family} value; also the name checkpoints store (RunState.family). */
    String name();

    /** Whether {@code family} (a config's or a checkpoint's model.family) is this family. */
    default boolean named(String family) {
        return name().equals(family);
    }

    /** Adds to {@code c} the problems of {@code cfg} specific to this family (layouts: the capabilities below). */
    void checkConfig(MegalithConfig cfg, Checks c);

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

    /** The highest zero.stage it trains with (the trainer partitions any model's segments: all of them). */
    default int maxZeroStage() {
        return 3;
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

    /** Whether it trains on captioned images (data.task captions). */
    default boolean captionedImages() {
        return false;
    }

    /** Whether it generates images from captions through a text encoder (checkpoint.init_text_from can start it). */
    default boolean textToImage() {
        return false;
    }

    /** Whether a trained model of the same family can teach it (the distill section): next tokens, or classes. */
    default boolean distillable() {
        return false;
    }

    /**
     * The registered families, a {@link java.util.ServiceLoader} service: the family registry names its provider in
     * trainer-core's {@code META-INF/services}, and config finds it at validation time ({@link InstalledFamilies}).
     */
    interface Catalog {
        /** Every registered family, in the order config errors list them. */
        List<? extends FamilyRules> families();
    }
}
