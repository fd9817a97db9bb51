package io.megalith.core.family.vit;

import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.tensor.CounterRng;
import java.util.ArrayList;
import java.util.List;

/**
 * Images made in the test (until the image reader lands): class k (of at most 4) is a texture, +-1 pixels in
 * horizontal stripes, vertical stripes, a checkerboard or flat 0, over normal(0, 0.5) noise: every patch of 2 x 2 or
 * more shows the class, so a small ViT learns it in a few dozen steps. Training row i of step s is a pure function of
 * (seed, s, i); held-out image j of (seed, j).
 */
public final class SyntheticImages implements ImageData {
    private final int channels;
    private final int size;
    private final int classes;
    private final long seed;
    private final long heldOut;

    public SyntheticImages(int channels, int size, int classes, long heldOut, long seed) {
        if (classes > 4) {
            throw new IllegalArgumentException("at most 4 texture classes");
        }
        this.channels = channels;
        this.size = size;
        this.classes = classes;
        this.heldOut = heldOut;
        this.seed = seed;
    }

    @Override
    public int channels() {
        return channels;
    }

    @Override
    public int height() {
        return size;
    }

    @Override
    public int width() {
        return size;
    }

    @Override
    public int classes() {
        return classes;
    }

    @Override
    public List<String> classNames() {
        List<String> names = new ArrayList<>();
        for (int k = 0; k < classes; k++) {
            names.add(List.of("horizontal", "vertical", "checkerboard", "flat").get(k));
        }
        return names;
    }

    @Override
    public long trainSize() {
        return Long.MAX_VALUE;
    }

    @Override
    public long heldOutSize() {
        return heldOut;
    }

    @Override
    public ImageBatch train(long step, int first, int count) {
        long[] keys = new long[count];
        for (int i = 0; i < count; i++) {
            keys[i] = CounterRng.key(seed, step, first + i);
        }
        return images(keys);
    }

    @Override
    public ImageBatch heldOut(long first, int count) {
        long[] keys = new long[count];
        for (int i = 0; i < count; i++) {
            keys[i] = CounterRng.key(seed ^ 0x5EED, first + i);
        }
        return images(keys);
    }

    private ImageBatch images(long[] keys) {
        int n = keys.length;
        int per = channels * size * size;
        float[] pixels = new float[n * per];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int label = (int) CounterRng.below(keys[i], 1 << 20, classes);
            labels[i] = label;
            for (int c = 0; c < channels; c++) {
                for (int y = 0; y < size; y++) {
                    for (int x = 0; x < size; x++) {
                        int at = (c * size + y) * size + x;
                        pixels[i * per + at] = texture(label, y, x) + 0.5f * (float) CounterRng.normal(keys[i], at);
                    }
                }
            }
        }
        return new ImageBatch(pixels, labels, n, channels, size, size);
    }

    private static float texture(int label, int y, int x) {
        return switch (label) {
            case 0 -> y % 2 == 0 ? 1f : -1f;
            case 1 -> x % 2 == 0 ? 1f : -1f;
            case 2 -> (x + y) % 2 == 0 ? 1f : -1f;
            default -> 0f;
        };
    }

    @Override
    public String describe() {
        return "synthetic textures " + channels + "x" + size + "x" + size + ", " + classes + " classes";
    }
}
