package io.megalith.core.data.images;

import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/** Opens the images of a run (data.task: images) on a rank. */
public final class ImageDatasets {
    private ImageDatasets() {}

    /**
     * A run's images as stored (bytes, before normalisation and augmentation), with the class names and the
     * per-channel mean and std of the training pixels (as x / 255) that batches are normalised by.
     */
    public record Stored(ImageSet train, ImageSet heldOut, List<String> classNames, double[] mean, double[] std,
            String source) {
        /** Batches of these images: normalised, and training rows sampled and augmented from (seed, step, row). */
        public ImageData open(MegalithConfig.Augment augment, long seed) {
            return new ImageTable(train, heldOut, classNames, mean, std, augment, seed, source);
        }
    }

    /**
     * The run's images: the shards the launcher prepared with Spark ({@code preparedData}), or, in process without
     * them, what data.* names read directly. Both give the same batches: same images in the same order, same mean
     * and std (exact pixel sums), same sampling and augmentation from (seed, step, row).
     */
    public static ImageData open(MegalithConfig cfg, Configuration hadoop, String preparedData) throws IOException {
        return read(cfg, hadoop, preparedData).open(cfg.data().augment(), cfg.seed());
    }

    /** The run's images as stored, from the same places as {@link #open}. */
    public static Stored read(MegalithConfig cfg, Configuration hadoop, String preparedData) throws IOException {
        MegalithConfig.Data d = cfg.data();
        if (preparedData != null) {
            ImageShards.Prepared p = ImageShards.open(preparedData, hadoop);
            return new Stored(p.train(), p.heldOut(), p.index().classNames(), p.index().meanArray(),
                    p.index().stdArray(), "prepared " + preparedData);
        }
        if (d.builtin() != null && !d.builtin().isBlank()) {
            if (!"shapes".equals(d.builtin())) {
                throw new IllegalArgumentException("data.builtin: " + d.builtin() + " is not an image set; use shapes");
            }
            ImageSet train = Shapes.train();
            ChannelStats stats = ChannelStats.of(train);
            return new Stored(train, Shapes.heldOut(), Shapes.NAMES, stats.mean(), stats.std(), "builtin shapes");
        }
        ImageSource source = ImageSource.resolve(d, cfg.seed(), hadoop);
        ImageSet train = source.read(true, 0, source.size(true), hadoop);
        ImageSet held = source.read(false, 0, source.size(false), hadoop);
        ChannelStats stats = ChannelStats.of(train);
        return new Stored(train, held, source.classNames(), stats.mean(), stats.std(), d.path());
    }
}
