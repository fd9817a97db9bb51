package io.megalith.core.data.images;

import java.util.Arrays;
import java.util.List;

/**
 * Where image batches come from (data.task: images). As for text, row {@code i} of optimizer step {@code s} is a
 * pure function of (seed, s, i), augmentation included: any layout of ranks can take any slice of a step's global
 * batch, and resuming at step s needs nothing but s.
 */
public interface ImageData extends AutoCloseable {
    int channels();

    int height();

    int width();

    /** Number of classes; labels are 0..classes-1. */
    int classes();

    /** Class names by label (folder names, or the dataset's own), for reports and generated grids. */
    List<String> classNames();

    /** Images of the training split. */
    long trainSize();

    /** Images of the held-out split (the test set for Fashion-MNIST). */
    long heldOutSize();

    /** Rows [first, first + count) of step {@code step}'s global training batch, augmented as data.* asks. */
    ImageBatch train(long step, int first, int count);

    /** Held-out images [first, first + count), in a fixed order, never augmented. */
    ImageBatch heldOut(long first, int count);

    /** Per-channel mean of the raw pixels as x / 255 that batches are normalised by: (x / 255 - mean) / std. */
    default double[] mean() {
        return new double[channels()];
    }

    /** Per-channel std of the normalisation ({@link #mean}); with the default mean: pixels are given normalised. */
    default double[] std() {
        double[] s = new double[channels()];
        Arrays.fill(s, 1.0);
        return s;
    }

    /** A one-line description for logs. */
    String describe();

    @Override
    default void close() {}
}
