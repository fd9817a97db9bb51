package io.megalith.core.data.images;

import java.util.Arrays;

/**
 * Images as stored: {@code pixels} unsigned bytes (0 background .. 255 full), [size, channels, height, width]
 * row-major, and each image's label. The raw form that readers produce, shards hold and augmentation works on;
 * {@link ImageBatch} is what a model reads.
 */
public record ImageSet(byte[] pixels, int[] labels, int channels, int height, int width) {
    public ImageSet {
        if (channels < 1 || height < 1 || width < 1
                || pixels.length != (long) labels.length * channels * height * width) {
            throw new IllegalArgumentException(labels.length + " images of " + channels + "x" + height + "x" + width
                    + " in " + pixels.length + " bytes");
        }
    }

    public int size() {
        return labels.length;
    }

    /** Bytes of one image: channels x height x width. */
    public int imageBytes() {
        return channels * height * width;
    }

    /**
     * The pixels as a model reads them, [size, channels, height, width]: (x / 255 - mean[c]) / std[c] per channel,
     * the normalisation of {@link ImageData} batches.
     */
    public float[] normalised(double[] mean, double[] std) {
        int plane = height * width;
        float[] out = new float[pixels.length];
        float[][] table = normalisation(mean, std, channels);
        for (int at = 0; at < pixels.length; at++) {
            out[at] = table[(at / plane) % channels][pixels[at] & 0xff];
        }
        return out;
    }

    /** Each channel's byte -> normalised value table: (v / 255 - mean[c]) / std[c]. */
    static float[][] normalisation(double[] mean, double[] std, int channels) {
        float[][] table = new float[channels][256];
        for (int c = 0; c < channels; c++) {
            for (int v = 0; v < 256; v++) {
                table[c][v] = (float) ((v / 255.0 - mean[c]) / std[c]);
            }
        }
        return table;
    }

    /** Images [first, first + count). */
    public ImageSet slice(int first, int count) {
        int n = imageBytes();
        return new ImageSet(Arrays.copyOfRange(pixels, first * n, (first + count) * n),
                Arrays.copyOfRange(labels, first, first + count), channels, height, width);
    }

    /** The images of {@code parts}, one after the other (all of one shape). */
    public static ImageSet concat(int channels, int height, int width, Iterable<ImageSet> parts) {
        int images = 0;
        for (ImageSet p : parts) {
            if (p.channels != channels || p.height != height || p.width != width) {
                throw new IllegalArgumentException("images of " + p.channels + "x" + p.height + "x" + p.width
                        + " among images of " + channels + "x" + height + "x" + width);
            }
            images += p.size();
        }
        byte[] pixels = new byte[Math.multiplyExact(images, channels * height * width)];
        int[] labels = new int[images];
        int at = 0;
        for (ImageSet p : parts) {
            System.arraycopy(p.pixels, 0, pixels, at * p.imageBytes(), p.pixels.length);
            System.arraycopy(p.labels, 0, labels, at, p.size());
            at += p.size();
        }
        return new ImageSet(pixels, labels, channels, height, width);
    }
}
