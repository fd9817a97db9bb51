package io.megalith.core.data.images;

/**
 * {@code rows} images as a model reads them: {@code pixels} normalised per channel ((x/255 - mean) / std), shape
 * [rows, channels, height, width] row-major, and each image's class label (0-based).
 */
public record ImageBatch(float[] pixels, int[] labels, int rows, int channels, int height, int width) {
    public ImageBatch {
        if (pixels.length != (long) rows * channels * height * width || labels.length != rows) {
            throw new IllegalArgumentException("image batch of " + rows + "x" + channels + "x" + height + "x" + width
                    + " with " + pixels.length + " pixels and " + labels.length + " labels");
        }
    }
}
