package io.megalith.core.data.images;

import io.megalith.core.config.MegalithConfig.Augment;
import io.megalith.core.tensor.CounterRng;
import java.util.Arrays;
import java.util.List;

/**
 * Both splits in memory (one byte per pixel): row i of step s's global batch is training image
 * below(key(seed, s), i, trainSize) (drawn with replacement, as text windows are), augmented from (seed, s, i);
 * held-out images in file order. Pixels are normalised per channel as (x / 255 - mean) / std through a 256-entry
 * table per channel, so every reader of the same bytes gives the same floats.
 */
final class ImageTable implements ImageData {
    private final ImageSet train;
    private final ImageSet heldOut;
    private final List<String> classNames;
    private final double[] mean;
    private final double[] std;
    private final float[][] normalised;
    private final Augmenter augmenter;
    private final long sampleKey;
    private final String description;

    ImageTable(ImageSet train, ImageSet heldOut, List<String> classNames, double[] mean, double[] std, Augment augment,
            long seed, String source) {
        if (heldOut.channels() != train.channels() || heldOut.height() != train.height()
                || heldOut.width() != train.width()) {
            throw new IllegalArgumentException("held-out images differ in shape from the training images");
        }
        if (train.size() == 0) {
            throw new IllegalArgumentException("no training images in " + source);
        }
        this.train = train;
        this.heldOut = heldOut;
        this.classNames = List.copyOf(classNames);
        this.mean = mean.clone();
        this.std = std.clone();
        this.normalised = ImageSet.normalisation(mean, std, train.channels());
        this.augmenter = new Augmenter(augment, seed);
        this.sampleKey = CounterRng.key(seed, "data.images.train");
        this.description = String.format("%s: %,d training + %,d held-out images of %dx%dx%d, %d classes, mean %s std %s%s",
                source, train.size(), heldOut.size(), train.channels(), train.height(), train.width(),
                classNames.size(), Arrays.toString(round(mean)), Arrays.toString(round(std)),
                augmenter.active() ? ", augmented " + augment : "");
    }

    @Override
    public int channels() {
        return train.channels();
    }

    @Override
    public int height() {
        return train.height();
    }

    @Override
    public int width() {
        return train.width();
    }

    @Override
    public int classes() {
        return classNames.size();
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    @Override
    public long trainSize() {
        return train.size();
    }

    @Override
    public long heldOutSize() {
        return heldOut.size();
    }

    /** Per-channel mean of the training pixels (as x / 255). */
    @Override
    public double[] mean() {
        return mean.clone();
    }

    @Override
    public double[] std() {
        return std.clone();
    }

    @Override
    public ImageBatch train(long step, int first, int count) {
        int n = train.imageBytes();
        byte[] raw = new byte[count * n];
        int[] labels = new int[count];
        long key = CounterRng.key(sampleKey, step);
        for (int i = 0; i < count; i++) {
            long row = (long) first + i;
            int image = (int) CounterRng.below(key, row, train.size());
            labels[i] = train.labels()[image];
            if (augmenter.active()) {
                augmenter.apply(train.pixels(), image * n, channels(), height(), width(), step, row, raw, i * n);
            } else {
                System.arraycopy(train.pixels(), image * n, raw, i * n, n);
            }
        }
        return batch(raw, labels, count);
    }

    @Override
    public ImageBatch heldOut(long first, int count) {
        if (first < 0 || count < 0 || first + count > heldOut.size()) {
            throw new IndexOutOfBoundsException("held-out images [" + first + ", " + (first + count) + ") of "
                    + heldOut.size());
        }
        int n = heldOut.imageBytes();
        byte[] raw = Arrays.copyOfRange(heldOut.pixels(), (int) first * n, ((int) first + count) * n);
        return batch(raw, Arrays.copyOfRange(heldOut.labels(), (int) first, (int) first + count), count);
    }

    private ImageBatch batch(byte[] raw, int[] labels, int count) {
        int plane = height() * width();
        float[] px = new float[raw.length];
        for (int i = 0, at = 0; i < count; i++) {
            for (int c = 0; c < channels(); c++) {
                float[] table = normalised[c];
                for (int p = 0; p < plane; p++, at++) {
                    px[at] = table[raw[at] & 0xff];
                }
            }
        }
        return new ImageBatch(px, labels, count, channels(), height(), width());
    }

    @Override
    public String describe() {
        return description;
    }

    private static double[] round(double[] v) {
        return Arrays.stream(v).map(x -> Math.round(x * 1e4) / 1e4).toArray();
    }
}
