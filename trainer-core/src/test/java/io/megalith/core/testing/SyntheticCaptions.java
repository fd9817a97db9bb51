package io.megalith.core.testing;

import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.Composition;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.tensor.CounterRng;
import java.util.ArrayList;
import java.util.List;

/**
 * Captioned canvases made in the test (until data/captions lands): a canvas of {@code size} x 2 {@code size} pixels,
 * one channel, whose halves hold drawn items of 4 classes (horizontal stripes, vertical stripes, a checkerboard, a
 * filled square) over normal(0, 0.3) noise. Captions: "a photo of a {class}" (the item on the left half, the right
 * half empty), "a {A} to the left of a {B}" and "a {A} to the right of a {B}". The pair {horizontal, square} is held
 * out: never together in training, the held-out canvases are its compositions. Training row i of step s is a pure
 * function of (seed, s, i); held-out canvas j of (seed, j).
 */
public final class SyntheticCaptions implements CaptionData {
    public static final List<String> CLASSES = List.of("stripe", "bar", "checker", "square");
    private static final int HELD_A = 0;
    private static final int HELD_B = 3;

    private final int size;
    private final long seed;
    private final long heldOut;

    public SyntheticCaptions(int size, long heldOut, long seed) {
        this.size = size;
        this.heldOut = heldOut;
        this.seed = seed;
    }

    @Override
    public int channels() {
        return 1;
    }

    @Override
    public int height() {
        return size;
    }

    @Override
    public int width() {
        return 2 * size;
    }

    @Override
    public List<String> classNames() {
        return CLASSES;
    }

    @Override
    public long trainSize() {
        return 1000;
    }

    @Override
    public CaptionBatch train(long step, int first, int count) {
        List<Composition> what = new ArrayList<>();
        long[] keys = new long[count];
        for (int i = 0; i < count; i++) {
            keys[i] = CounterRng.key(seed, step, first + i);
            long kind = CounterRng.below(keys[i], 0, 3);
            int a = (int) CounterRng.below(keys[i], 1, 4);
            if (kind == 0) {
                what.add(Composition.single(a));
                continue;
            }
            int b = (a + 1 + (int) CounterRng.below(keys[i], 2, 3)) % 4;
            if (Math.min(a, b) == HELD_A && Math.max(a, b) == HELD_B) {
                b = (b + 1) % 4 == a ? (b + 2) % 4 : (b + 1) % 4; // never the held-out pair
            }
            what.add(new Composition(a, b, kind == 1 ? Composition.Relation.LEFT_OF : Composition.Relation.RIGHT_OF));
        }
        return batch(what, keys);
    }

    @Override
    public CaptionBatch heldOut(long first, int count) {
        List<Composition> what = new ArrayList<>();
        long[] keys = new long[count];
        for (int i = 0; i < count; i++) {
            long j = first + i;
            keys[i] = CounterRng.key(seed ^ 0x5EED, j);
            // the held-out pair in both orders and both relations
            int a = j % 2 == 0 ? HELD_A : HELD_B;
            int b = j % 2 == 0 ? HELD_B : HELD_A;
            what.add(new Composition(a, b, (j / 2) % 2 == 0 ? Composition.Relation.LEFT_OF
                    : Composition.Relation.RIGHT_OF));
        }
        return batch(what, keys);
    }

    @Override
    public long heldOutSize() {
        return heldOut;
    }

    @Override
    public ImageBatch heldOutItems(long first, int count) {
        List<Composition> what = new ArrayList<>();
        long[] keys = new long[count];
        for (int i = 0; i < count; i++) {
            keys[i] = CounterRng.key(seed ^ 0x17E5, first + i);
            what.add(Composition.single((int) ((first + i) % 4)));
        }
        return batch(what, keys).images();
    }

    @Override
    public long heldOutItemsSize() {
        return heldOut;
    }

    @Override
    public double[] mean() {
        return new double[] {0};
    }

    @Override
    public double[] std() {
        return new double[] {1};
    }

    @Override
    public String describe() {
        return "synthetic captions " + size + "x" + 2 * size;
    }

    /** The caption of a composition. */
    public static String caption(Composition c) {
        return switch (c.relation()) {
            case SINGLE -> "a photo of a " + CLASSES.get(c.first());
            case LEFT_OF -> "a " + CLASSES.get(c.first()) + " to the left of a " + CLASSES.get(c.second());
            case RIGHT_OF -> "a " + CLASSES.get(c.first()) + " to the right of a " + CLASSES.get(c.second());
            default -> throw new IllegalArgumentException("no " + c.relation() + " canvases here");
        };
    }

    private CaptionBatch batch(List<Composition> what, long[] keys) {
        int n = what.size();
        int w = 2 * size;
        int per = size * w;
        float[] pixels = new float[n * per];
        int[] labels = new int[n];
        List<String> captions = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Composition c = what.get(i);
            labels[i] = c.first();
            captions.add(caption(c));
            int left = c.relation() == Composition.Relation.RIGHT_OF ? c.second() : c.first();
            int right = switch (c.relation()) {
                case SINGLE -> -1;
                case RIGHT_OF -> c.first();
                default -> c.second();
            };
            for (int y = 0; y < size; y++) {
                for (int x = 0; x < w; x++) {
                    int item = x < size ? left : right;
                    int at = y * w + x;
                    float v = item < 0 ? 0f : draw(item, y, x % size);
                    pixels[i * per + at] = v + 0.3f * (float) CounterRng.normal(keys[i], at);
                }
            }
        }
        return new CaptionBatch(new ImageBatch(pixels, labels, n, 1, size, w), captions, what);
    }

    private float draw(int item, int y, int x) {
        boolean inside = y >= 1 && y < size - 1 && x >= 1 && x < size - 1;
        return switch (item) {
            case 0 -> y % 2 == 0 ? 1f : -1f;
            case 1 -> x % 2 == 0 ? 1f : -1f;
            case 2 -> (x + y) % 2 == 0 ? 1f : -1f;
            default -> inside ? 1.5f : -1f;
        };
    }
}
