package io.megalith.core.data.images;

import io.megalith.core.tensor.CounterRng;
import java.util.List;

/**
 * The built-in image set {@code data.builtin: shapes}: 28x28 grayscale drawings of 10 kinds of shape, each at a
 * random centre, size and brightness over faint noise, so the image families and their tests run without files.
 * A fixed data set (like a downloaded one, it does not change with the run's seed): image i of the training split
 * (6,000) or of the held-out split (1,000) is a pure function of i; classes take turns (label = i mod 10).
 */
final class Shapes {
    static final int SIZE = 28;
    static final int TRAIN = 6000;
    static final int HELD_OUT = 1000;
    static final List<String> NAMES = List.of("disc", "ring", "square", "frame", "triangle", "plus", "cross",
            "horizontal bar", "vertical bar", "diagonal");
    private static final long KEY = CounterRng.key(0x5EA9E5L, "data.builtin.shapes");

    private Shapes() {}

    static ImageSet train() {
        return images(0, TRAIN);
    }

    static ImageSet heldOut() {
        return images(TRAIN, HELD_OUT);
    }

    private static ImageSet images(int first, int count) {
        byte[] pixels = new byte[count * SIZE * SIZE];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            labels[i] = (first + i) % NAMES.size();
            draw(first + i, labels[i], pixels, i * SIZE * SIZE);
        }
        return new ImageSet(pixels, labels, 1, SIZE, SIZE);
    }

    private static void draw(long image, int shape, byte[] out, int at) {
        long k = CounterRng.key(KEY, image);
        double cx = 9 + 10 * CounterRng.uniform(k, 0);
        double cy = 9 + 10 * CounterRng.uniform(k, 1);
        double r = 5 + 4 * CounterRng.uniform(k, 2); // half the shape's extent, pixels
        int ink = 150 + (int) CounterRng.below(k, 3, 106);
        for (int y = 0; y < SIZE; y++) {
            for (int x = 0; x < SIZE; x++) {
                double dx = x + 0.5 - cx;
                double dy = y + 0.5 - cy;
                int noise = (int) CounterRng.below(k, 16 + y * SIZE + x, 40);
                out[at + y * SIZE + x] = (byte) (inside(shape, dx, dy, r) ? ink - noise / 2 : noise);
            }
        }
    }

    /** Whether the point (dx, dy) from the centre is ink for {@code shape} of half-extent r. */
    private static boolean inside(int shape, double dx, double dy, double r) {
        double ax = Math.abs(dx);
        double ay = Math.abs(dy);
        double d = Math.hypot(dx, dy);
        double t = Math.max(1.2, r / 4); // stroke half-width
        return switch (shape) {
            case 0 -> d <= r;
            case 1 -> Math.abs(d - r + t) <= t;
            case 2 -> ax <= r && ay <= r;
            case 3 -> ax <= r && ay <= r && (ax >= r - 2 * t || ay >= r - 2 * t);
            case 4 -> dy <= r && dy >= -r && ax <= (dy + r) / 2; // apex up, base at the bottom
            case 5 -> (ax <= t && ay <= r) || (ay <= t && ax <= r);
            case 6 -> ax <= r && ay <= r && Math.abs(ax - ay) <= t * 1.4;
            case 7 -> ax <= r && ay <= t;
            case 8 -> ay <= r && ax <= t;
            case 9 -> ax <= r && ay <= r && Math.abs(dx - dy) <= t * 1.4;
            default -> throw new IllegalArgumentException("shape " + shape);
        };
    }
}
