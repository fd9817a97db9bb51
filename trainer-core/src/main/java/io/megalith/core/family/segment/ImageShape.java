package io.megalith.core.family.segment;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.model.vit.VitConfig;
import java.util.Locale;

/**
 * What the image families (ViT, DiT) take from the data for the model's shape: image size, channels and classes
 * come from the data where model.* says 0, else they must agree with it.
 */
public final class ImageShape {
    private ImageShape() {}

    /**
     * Checks model.image_size, model.channels and model.classes against {@code data} and returns the number of
     * classes: model.classes if set (it may exceed the data's), else the data's.
     */
    public static int classes(MegalithConfig.Model m, ImageData data) {
        if (m.imageSize() > 0 && (m.imageSize() != data.height() || m.imageSize() != data.width())) {
            throw new IllegalArgumentException("model.image_size: " + m.imageSize() + ", but the images are "
                    + data.height() + "x" + data.width() + " (" + data.describe() + "); set it to " + data.height()
                    + (data.height() == data.width() ? "" : "/" + data.width()) + " or 0 (from the data)");
        }
        if (m.channels() > 0 && m.channels() != data.channels()) {
            throw new IllegalArgumentException("model.channels: " + m.channels() + ", but the images have "
                    + data.channels() + " (" + data.describe() + "); set it to " + data.channels()
                    + " or 0 (from the data)");
        }
        if (m.classes() > 0 && m.classes() < data.classes()) {
            throw new IllegalArgumentException("model.classes: " + m.classes() + ", but the data has " + data.classes()
                    + " classes (" + data.describe() + "); set it to " + data.classes() + " or 0 (from the data)");
        }
        return m.classes() > 0 ? m.classes() : data.classes();
    }

    /**
     * A ViT's shape from model.* and the data (the family's run and a trained run's loader both read it here, so the
     * loader, which a distillation teacher uses, needs nothing of the run).
     */
    public static VitConfig vit(MegalithConfig.Model m, ImageData data) {
        int classes = classes(m, data);
        return new VitConfig(data.height(), data.width(), data.channels(), m.patchSize(), classes, m.nLayer(),
                m.nHead(), m.nEmbd(), m.dropout(), m.bias(), VitConfig.Pool.valueOf(m.pool().toUpperCase(Locale.ROOT)),
                VitConfig.Positions.valueOf(m.posEmb().toUpperCase(Locale.ROOT)));
    }

    /** What a ViT run's resume must find again: the model's shape (no dropout) and the class names. */
    public static String vitResumeKey(VitConfig c, ImageData data) {
        return c.withDropout(0) + " classes " + data.classNames();
    }
}
