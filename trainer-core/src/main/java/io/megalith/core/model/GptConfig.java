package io.megalith.core.model;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.LayerSpec;

/**
 * The shape of a GPT, as nanoGPT's GPTConfig. {@code headSize} (0: n_embd / n_head) and {@code mlpHidden} (0: 4
 * n_embd, the dense blocks' hidden units) differ from their defaults only in a structurally pruned GPT; a state.json
 * written before they existed reads them as 0, the defaults.
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias,
        MegalithConfig.Moe moe, int headSize, int mlpHidden) {
    public GptConfig {
        if (headSize == 0 && nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
        headSize = headSize == 0 ? nEmbd / nHead : headSize;
        mlpHidden = mlpHidden == 0 ? 4 * nEmbd : mlpHidden;
        if (moe == null || !moe.enabled()) {
            moe = MegalithConfig.Moe.OFF; // also what a state.json written before MoE existed means
        }
    }

    /** Heads of n_embd / n_head and 4 n_embd hidden units. */
    public GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias,
            MegalithConfig.Moe moe) {
        this(vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, moe, 0, 0);
    }

    /** A dense GPT. */
    public GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias) {
        this(vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, MegalithConfig.Moe.OFF);
    }

    public static GptConfig from(MegalithConfig.Model m, int tokenizerVocab) {
        int vocab = m.vocabSize() > 0 ? m.vocabSize() : tokenizerVocab;
        if (vocab < tokenizerVocab) {
            throw new ConfigException(null, "model.vocab_size: must be 0 (from the tokenizer) "
                    + "or >= the tokenizer's " + tokenizerVocab + " (got " + vocab + ")");
        }
        return new GptConfig(vocab, m.blockSize(), m.nLayer(), m.nHead(), m.nEmbd(), m.dropout(), m.bias(), m.moe(),
                m.headSize(), m.mlpHidden());
    }

    /** The attention's inner width: n_head heads of head_size side by side (n_embd unless heads were pruned). */
    public int attentionWidth() {
        return nHead * headSize;
    }

    /** Whether heads or hidden units differ from n_embd / n_head and 4 n_embd (a structurally pruned GPT). */
    public boolean pruned() {
        return headSize * nHead != nEmbd || mlpHidden != 4 * nEmbd;
    }

    /** The same shape without dropout (what weights are compared by). */
    public GptConfig shape() {
        return new GptConfig(vocabSize, blockSize, nLayer, nHead, nEmbd, 0, bias, moe, headSize, mlpHidden);
    }

    /** Its blocks: pre-LN, residual init scaled by n_layer, experts where {@code moe} puts them. */
    public LayerSpec layerSpec(LoraConfig lora) {
        return new LayerSpec(nEmbd, nHead, dropout, bias, true, nLayer, lora, moe, headSize, mlpHidden);
    }
}
