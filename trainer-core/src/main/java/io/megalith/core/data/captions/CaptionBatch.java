package io.megalith.core.data.captions;

import io.megalith.core.data.images.ImageBatch;
import java.util.List;

/**
 * {@code images.rows()} captioned canvases: pixels normalised as {@link ImageBatch} (its labels: the first item's
 * class), each canvas's caption text (tokenised by the model's family, not here), and what each caption says
 * ({@link Composition}, null for user data that does not record it).
 */
public record CaptionBatch(ImageBatch images, List<String> captions, List<Composition> compositions) {
    public CaptionBatch {
        if (captions.size() != images.rows() || compositions.size() != images.rows()) {
            throw new IllegalArgumentException(images.rows() + " images with " + captions.size() + " captions and "
                    + compositions.size() + " compositions");
        }
    }

    public int rows() {
        return images.rows();
    }
}
