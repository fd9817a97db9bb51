package io.megalith.core.model.transformer;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.lora.LoraConfig;

/**
 * The shape of one transformer layer of every family (the GPT's blocks, BERT's and the encoder-decoder's layers):
 * width, heads, dropout, biases, pre- or post-LayerNorm, LoRA adapters, and which layers' feed-forward is a mixture
 * of experts ({@code moe}, off by default). {@code depth} (the number of residual branches' layers the model stacks)
 * scales the init of residual projections as in GPT-2: normal(0, 0.02 / sqrt(2 depth)).
 */
public record LayerSpec(int nEmbd, int nHead, double dropout, boolean bias, boolean preLn, int depth, LoraConfig lora,
        MegalithConfig.Moe moe) {
    public LayerSpec {
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
        if (moe == null) {
            moe = MegalithConfig.Moe.OFF;
        }
    }

    /** Dense layers (no mixture of experts). */
    public LayerSpec(int nEmbd, int nHead, double dropout, boolean bias, boolean preLn, int depth, LoraConfig lora) {
        this(nEmbd, nHead, dropout, bias, preLn, depth, lora, MegalithConfig.Moe.OFF);
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    public double residualStd() {
        return 0.02 / Math.sqrt(2.0 * depth);
    }
}
