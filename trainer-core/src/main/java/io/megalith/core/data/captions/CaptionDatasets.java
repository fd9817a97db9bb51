package io.megalith.core.data.captions;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageDatasets;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/** Opens the captioned images data.* describes (data.task: captions). */
public final class CaptionDatasets {
    private CaptionDatasets() {}

    /**
     * The captioned set of {@code cfg}: generated from an image set's items (data.format idx | folder, or
     * data.builtin), or read from JSONL (data.format jsonl). {@code preparedData}: the launcher's prepared source
     * images, or null to read data.path in process.
     */
    public static CaptionData open(MegalithConfig cfg, Configuration hadoop, String preparedData) throws IOException {
        MegalithConfig.Data d = cfg.data();
        if (readsJsonl(cfg, hadoop)) {
            if (!MegalithConfig.Augment.NONE.equals(d.augment())) {
                throw new IllegalArgumentException("data.augment: changes the items of generated canvases, and "
                        + d.path() + " holds JSON Lines captions (a whole captioned image cannot be flipped or moved "
                        + "without changing what its caption says); remove data.augment");
            }
            return JsonlCaptions.read(d.path(), d.valFraction(), cfg.seed(), hadoop);
        }
        return generate(ImageDatasets.read(cfg, hadoop, preparedData), d.captions(), d.augment(), cfg.seed());
    }

    /**
     * The captioned set generated from {@code source}'s items as {@code captions} says, training items changed as
     * {@code augment} says, drawn from {@code seed}.
     */
    public static CaptionData generate(ImageDatasets.Stored source, MegalithConfig.Captions captions,
            MegalithConfig.Augment augment, long seed) {
        return new GeneratedCaptions(source, captions, augment, seed);
    }

    /**
     * Whether the captions are read from JSON Lines in process (data.format jsonl, or auto with a train.jsonl in
     * data.path) rather than generated from source images the launcher prepares as for data.task images.
     */
    public static boolean readsJsonl(MegalithConfig cfg, Configuration hadoop) throws IOException {
        MegalithConfig.Data d = cfg.data();
        if ("jsonl".equals(d.format())) {
            return true;
        }
        boolean path = d.path() != null && !d.path().isBlank() && (d.builtin() == null || d.builtin().isBlank());
        return "auto".equals(d.format()) && path && JsonlCaptions.present(d.path(), hadoop);
    }
}
