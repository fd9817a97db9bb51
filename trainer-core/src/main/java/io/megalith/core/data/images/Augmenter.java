package io.megalith.core.data.images;

import io.megalith.core.config.MegalithConfig.Augment;
import io.megalith.core.tensor.CounterRng;

/**
 * data.augment applied to one training image, drawn from (seed, step, global row) alone so a row's image does not
 * depend on which rank reads it. In order: flip left-right (probability 1/2); pad-and-crop, which moves the image
 * by (dy, dx) uniform in [-P, P]^2 with zeros coming in; translate by (ty, tx) uniform in [-N, N]^2, zero-filled.
 * Zero is a black raw pixel (as torchvision pads before normalising). Generated captions apply it to each item before
 * it is pasted into its canvas cell (the canvas itself never flips: that would swap "left of" and "right of").
 */
public final class Augmenter {
    private final Augment a;
    private final long key;

    public Augmenter(Augment a, long seed) {
        this.a = a;
        this.key = CounterRng.key(seed, "data.images.augment");
    }

    public boolean active() {
        return a.flip() || a.cropPadding() > 0 || a.translate() > 0;
    }

    /** Image {@code src[from ..]} of shape [c, h, w], augmented, into {@code out[to ..]}. */
    public void apply(byte[] src, int from, int c, int h, int w, long step, long row, byte[] out, int to) {
        long k = CounterRng.key(key, step, row);
        boolean flip = a.flip() && CounterRng.uniform(k, 0) < 0.5f;
        int p = a.cropPadding();
        int n = a.translate();
        // out(y, x) = crop(y - ty, x - tx) and crop(y', x') = flipped(y' + cy, x' + cx), each inside its image
        int cy = p > 0 ? (int) CounterRng.below(k, 1, 2L * p + 1) - p : 0;
        int cx = p > 0 ? (int) CounterRng.below(k, 2, 2L * p + 1) - p : 0;
        int ty = n > 0 ? (int) CounterRng.below(k, 3, 2L * n + 1) - n : 0;
        int tx = n > 0 ? (int) CounterRng.below(k, 4, 2L * n + 1) - n : 0;
        for (int ch = 0; ch < c; ch++) {
            int plane = ch * h * w;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int my = y - ty;
                    int mx = x - tx;
                    int sy = my + cy;
                    int sx = mx + cx;
                    boolean in = my >= 0 && my < h && mx >= 0 && mx < w && sy >= 0 && sy < h && sx >= 0 && sx < w;
                    out[to + plane + y * w + x] = in ? src[from + plane + sy * w + (flip ? w - 1 - sx : sx)] : 0;
                }
            }
        }
    }
}
