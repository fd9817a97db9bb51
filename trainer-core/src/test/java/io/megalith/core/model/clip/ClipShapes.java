package io.megalith.core.model.clip;

import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.model.vit.VitConfig;

/** Small CLIP shapes for tests over {@code testing.SyntheticCaptions} (8 x 16 canvases, lower-case captions). */
public final class ClipShapes {
    public static final int TEXT_LEN = 36;

    private ClipShapes() {}

    /** A tokenizer for every caption of the synthetic set. */
    public static CaptionTokens tokens() {
        return new CaptionTokens(CharTokenizer.fit("abcdefghijklmnopqrstuvwxyz "), TEXT_LEN);
    }

    /** Two layers per tower, 4 heads x 32 wide, patch 4 (8 patches), a joint space of 16. */
    public static ClipConfig small(VitConfig.Pool pool, TextEncoderConfig.Mask mask, double dropout) {
        CaptionTokens t = tokens();
        VitConfig image = new VitConfig(8, 16, 1, 4, 0, 2, 4, 32, dropout, true, pool,
                pool == VitConfig.Pool.CLS ? VitConfig.Positions.LEARNED : VitConfig.Positions.SINCOS);
        TextEncoderConfig text = new TextEncoderConfig(t.vocabSize(), t.padId(), TEXT_LEN, 2, 4, 32, dropout, true,
                mask);
        return new ClipConfig(image, text, 16);
    }
}
