package io.megalith.core.data.captions;

import io.megalith.core.data.images.ImageBatch;
import java.util.List;

/**
 * Where captioned images come from (data.task: captions). As for text and images, row {@code i} of optimizer step
 * {@code s} is a pure function of (seed, s, i): any layout of ranks can take any slice of a step's global batch, and
 * resuming at step s needs nothing but s. Every canvas has one shape ({@link #channels} x {@link #height} x
 * {@link #width}).
 */
public interface CaptionData extends AutoCloseable {
    int channels();

    int height();

    int width();

    /** The item classes' names as captions spell them ("t-shirt", "ankle boot", ...), by label. */
    List<String> classNames();

    /** Canvases a training epoch has (generated sets: as many as source training images). */
    long trainSize();

    /** Rows [first, first + count) of step {@code step}'s global training batch. */
    CaptionBatch train(long step, int first, int count);

    /**
     * Held-out canvases [first, first + count) in a fixed order: compositions of held-out pairs (pairs of classes
     * never together in a training canvas) built from held-out source images; user data: its held-out split.
     */
    CaptionBatch heldOut(long first, int count);

    long heldOutSize();

    /**
     * Held-out source images [first, first + count) alone on the canvas as a single item (labels: their classes),
     * for zero-shot classification; empty when the data has no classes.
     */
    ImageBatch heldOutItems(long first, int count);

    long heldOutItemsSize();

    /** Per-channel mean the pixels are normalised by: (x / 255 - mean) / std. */
    double[] mean();

    double[] std();

    /** A one-line description for logs. */
    String describe();

    @Override
    default void close() {}
}
