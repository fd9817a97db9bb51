package io.megalith.core.model.seq2seq;

import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.LayerSpec;

/**
 * The shape of an encoder-decoder transformer. Token ids {@code padId}, {@code bosId} (starts every decoder
 * input) and {@code eosId} (ends every target) are part of the model's contract with its data.
 */
public record Seq2SeqConfig(int vocabSize, int maxSourceLen, int maxTargetLen, int nEncoderLayer, int nDecoderLayer,
        int nHead, int nEmbd, double dropout, boolean bias, long padId, long bosId, long eosId, LoraConfig lora) {
    public Seq2SeqConfig {
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
    }

    public Seq2SeqConfig withLora(LoraConfig l) {
        return new Seq2SeqConfig(vocabSize, maxSourceLen, maxTargetLen, nEncoderLayer, nDecoderLayer, nHead, nEmbd,
                dropout, bias, padId, bosId, eosId, l);
    }

    /** Pre-LN layers; residual init scaled by the total depth. */
    public LayerSpec layerSpec() {
        return new LayerSpec(nEmbd, nHead, dropout, bias, true, nEncoderLayer + nDecoderLayer, lora);
    }
}
