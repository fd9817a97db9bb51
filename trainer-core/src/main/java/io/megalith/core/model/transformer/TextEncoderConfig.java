package io.megalith.core.model.transformer;

import io.megalith.core.lora.LoraConfig;

/**
 * The shape of a {@link TextEncoder}: {@code vocabSize} token ids (the pad id among them), sequences of at most
 * {@code textLen} tokens, pre-LN layers of width {@code nEmbd}, and the self-attention {@link Mask}.
 */
public record TextEncoderConfig(int vocabSize, int padId, int textLen, int nLayer, int nHead, int nEmbd, double dropout,
        boolean bias, Mask mask) {
    /**
     * CAUSAL: each token sees those before it (GPT-2 / CLIP's text tower), the text summarised by its last token's
     * state; BIDIRECTIONAL: every token sees every non-pad token (BERT-like), summarised by the mean over them.
     */
    public enum Mask { CAUSAL, BIDIRECTIONAL }

    public TextEncoderConfig {
        if (padId < 0 || padId >= vocabSize) {
            throw new IllegalArgumentException("pad id " + padId + " outside the vocabulary of " + vocabSize);
        }
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("model.n_embd: " + nEmbd + " not divisible by model.n_head " + nHead);
        }
        if (textLen < 1) {
            throw new IllegalArgumentException("model.text_len: must be >= 1 (got " + textLen + ")");
        }
    }

    public TextEncoderConfig withDropout(double d) {
        return new TextEncoderConfig(vocabSize, padId, textLen, nLayer, nHead, nEmbd, d, bias, mask);
    }

    /** Pre-LN dense layers. */
    public LayerSpec layerSpec() {
        return new LayerSpec(nEmbd, nHead, dropout, bias, true, nLayer, LoraConfig.NONE);
    }
}
