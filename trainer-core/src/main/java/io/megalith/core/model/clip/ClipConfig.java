package io.megalith.core.model.clip;

import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.model.vit.VitConfig;

/**
 * The shape of a {@link Clip}: an image tower (a ViT's shape; its classes unused), a text tower, and the width of the
 * joint embedding space both project into.
 */
public record ClipConfig(VitConfig image, TextEncoderConfig text, int embedDim) {
    public ClipConfig {
        if (embedDim < 1) {
            throw new IllegalArgumentException("model.embed_dim: must be >= 1 (got " + embedDim + ")");
        }
    }

    public ClipConfig withDropout(double d) {
        return new ClipConfig(image.withDropout(d), text.withDropout(d), embedDim);
    }
}
