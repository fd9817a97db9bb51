package io.megalith.core.model.transformer;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.lora.LoraConfig;

/**
 * The shape of one transformer layer of every family (the GPT's blocks, BERT's and the encoder-decoder's layers):
 * width, heads, dropout, biases, pre- or post-LayerNorm, LoRA adapters, and which layers' feed-forward is a mixture
 * of experts ({@code moe}, off by default). {@code depth} (the number of residual branches' layers the model stacks)
 * scales the init of residual projections as in GPT-2: normal(0, 0.02 / sqrt(2 depth)). {@code headSize} (0:
 * n_embd / n_head) and {@code mlpHidden} (0: 4 n_embd) are set apart from the width only by a structurally pruned
 * model, whose attention keeps fewer heads of the same size and whose feed-forward fewer hidden units.
 */
public record LayerSpec(int nEmbd, int nHead, double dropout, boolean bias, boolean preLn, int depth, LoraConfig lora,
        MegalithConfig.Moe moe, int headSize, int mlpHidden) {
    public LayerSpec {
        if (headSize == 0 && nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
        headSize = headSize == 0 ? nEmbd / nHead : headSize;
        mlpHidden = mlpHidden == 0 ? 4 * nEmbd : mlpHidden;
        if (moe == null) {
            moe = MegalithConfig.Moe.OFF;
        }
    }

    /** Heads of n_embd / n_head, a feed-forward 4 n_embd wide. */
    public LayerSpec(int nEmbd, int nHead, double dropout, boolean bias, boolean preLn, int depth, LoraConfig lora,
            MegalithConfig.Moe moe) {
        this(nEmbd, nHead, dropout, bias, preLn, depth, lora, moe, 0, 0);
    }

    /** Dense layers (no mixture of experts). */
    public LayerSpec(int nEmbd, int nHead, double dropout, boolean bias, boolean preLn, int depth, LoraConfig lora) {
        this(nEmbd, nHead, dropout, bias, preLn, depth, lora, MegalithConfig.Moe.OFF);
    }

    /** The attention's inner width: its heads side by side (n_embd unless heads were pruned). */
    public int attentionWidth() {
        return nHead * headSize;
    }

    public double residualStd() {
        return 0.02 / Math.sqrt(2.0 * depth);
    }
}
