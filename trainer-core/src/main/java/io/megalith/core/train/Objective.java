package io.megalith.core.train;

/**
 * What a model family's model learns ({@code ModelFamily.objective}): decides how its training run builds its model
 * and data (the family's {@link RankModel} is given it) and how {@code megalith generate} runs it.
 */
public enum Objective {
    /** Next-token prediction (a causal LM): generates text after a prompt. */
    NEXT_TOKEN,
    /** Masked tokens (masked LM) or sequence labels: an encoder, which does not generate. */
    MASKED_TOKENS,
    /** Source to target: decodes a target string for each source string. */
    SOURCE_TO_TARGET,
    /** The class of an image (a vision classifier): does not generate. */
    IMAGE_CLASSES,
    /** The noise in a noised image (a diffusion model): generates images of a class. */
    IMAGE_NOISE,
    /** Which caption goes with which image (a contrastive image-text model): does not generate. */
    IMAGE_TEXT
}
