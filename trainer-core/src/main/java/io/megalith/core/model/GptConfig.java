package io.megalith.core.model;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.LayerSpec;

/** The shape of a GPT, as nanoGPT's GPTConfig. */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias,
        MegalithConfig.Moe moe) {
    public GptConfig {
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
        if (moe == null || !moe.enabled()) {
            moe = MegalithConfig.Moe.OFF; // also what a state.json written before MoE existed means
        }
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
        return new GptConfig(vocab, m.blockSize(), m.nLayer(), m.nHead(), m.nEmbd(), m.dropout(), m.bias(), m.moe());
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    /** Its blocks: pre-LN, residual init scaled by n_layer, experts where {@code moe} puts them. */
    public LayerSpec layerSpec(LoraConfig lora) {
        return new LayerSpec(nEmbd, nHead, dropout, bias, true, nLayer, lora, moe);
    }
}
