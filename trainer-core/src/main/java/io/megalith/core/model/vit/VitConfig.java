package io.megalith.core.model.vit;

import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.LayerSpec;

/**
 * The shape of a vision transformer: images of {@code channels} x {@code height} x {@code width} cut into {@code
 * patch} x {@code patch} patches, {@code classes} labels, pre-LN layers of width {@code nEmbd}; the image summarised
 * by a [CLS] token or the mean over the patches ({@link Pool}), positions learned or fixed 2-D sin-cos
 * ({@link Positions}).
 */
public record VitConfig(int height, int width, int channels, int patch, int classes, int nLayer, int nHead, int nEmbd,
        double dropout, boolean bias, Pool pool, Positions positions) {
    /** What the head reads: the [CLS] token's final state, or the mean of every token's. */
    public enum Pool { CLS, MEAN }

    /** Learned position embeddings, or fixed 2-D sin-cos ones (MAE's). */
    public enum Positions { LEARNED, SINCOS }

    public VitConfig {
        if (height % patch != 0 || width % patch != 0) {
            throw new IllegalArgumentException("model.patch_size: " + patch + " does not divide the " + height + "x"
                    + width + " images; choose a divisor of both");
        }
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("model.n_embd: " + nEmbd + " not divisible by model.n_head " + nHead);
        }
        if (positions == Positions.SINCOS && nEmbd % 4 != 0) {
            throw new IllegalArgumentException("model.pos_emb: sincos needs model.n_embd divisible by 4 (got "
                    + nEmbd + ")");
        }
    }

    /** Patches per image: the transformer's tokens besides [CLS]. */
    public int patches() {
        return (height / patch) * (width / patch);
    }

    /** Tokens the transformer reads: the patches, and [CLS] in front under {@link Pool#CLS}. */
    public int tokens() {
        return patches() + (pool == Pool.CLS ? 1 : 0);
    }

    /** Pixels of one patch: the patch embedding's input features. */
    public int patchDim() {
        return channels * patch * patch;
    }

    public VitConfig withDropout(double d) {
        return new VitConfig(height, width, channels, patch, classes, nLayer, nHead, nEmbd, d, bias, pool, positions);
    }

    /** Pre-LN layers (as the GPT's blocks and ViT's), no LoRA, dense. */
    public LayerSpec layerSpec() {
        return new LayerSpec(nEmbd, nHead, dropout, bias, true, nLayer, LoraConfig.NONE);
    }
}
