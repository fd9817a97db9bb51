package io.megalith.core.model.bert;

import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.LayerSpec;

/**
 * The shape of a BERT encoder. {@code preLn} false is the original BERT (post-LN: LayerNorm after each residual
 * sum, and after the embedding sum); true is pre-LN (LayerNorm before each sub-layer, a final {@code ln_f}),
 * which trains more stably without warm-up tuning. {@code nsp} adds the next-sentence-prediction head.
 * {@code padId} marks padding: a key with that id is masked out of every attention.
 */
public record BertConfig(int vocabSize, int maxPositions, int typeVocabSize, int nLayer, int nHead, int nEmbd,
        double dropout, boolean bias, boolean preLn, boolean nsp, long padId, LoraConfig lora) {
    public BertConfig {
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
        if (typeVocabSize < 1) {
            throw new IllegalArgumentException("type_vocab_size must be >= 1");
        }
    }

    /** Post-LN, two segment types, NSP head, biases, no LoRA: BERT's defaults at a given size. */
    public static BertConfig of(int vocabSize, int maxPositions, int nLayer, int nHead, int nEmbd, long padId) {
        return new BertConfig(vocabSize, maxPositions, 2, nLayer, nHead, nEmbd, 0.1, true, false, true, padId,
                LoraConfig.NONE);
    }

    public BertConfig withLora(LoraConfig l) {
        return new BertConfig(vocabSize, maxPositions, typeVocabSize, nLayer, nHead, nEmbd, dropout, bias, preLn, nsp,
                padId, l);
    }

    public BertConfig withDropout(double d) {
        return new BertConfig(vocabSize, maxPositions, typeVocabSize, nLayer, nHead, nEmbd, d, bias, preLn, nsp, padId,
                lora);
    }

    public BertConfig withPreLn(boolean p) {
        return new BertConfig(vocabSize, maxPositions, typeVocabSize, nLayer, nHead, nEmbd, dropout, bias, p, nsp, padId,
                lora);
    }

    public LayerSpec layerSpec() {
        return new LayerSpec(nEmbd, nHead, dropout, bias, preLn, nLayer, lora);
    }
}
