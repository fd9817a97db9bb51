package io.megalith.core.model.transformer;

import io.megalith.core.lora.LoraConfig;

/**
 * The shape of one transformer layer of the encoder and encoder-decoder families: width, heads, dropout,
 * biases, pre- or post-LayerNorm, LoRA adapters. {@code depth} (the number of residual branches' layers
 * the model stacks) scales the init of residual projections as in GPT-2: normal(0, 0.02 / sqrt(2 depth)).
 */
public record LayerSpec(int nEmbd, int nHead, double dropout, boolean bias, boolean preLn, int depth, LoraConfig lora) {
    public LayerSpec {
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    public double residualStd() {
        return 0.02 / Math.sqrt(2.0 * depth);
    }
}
