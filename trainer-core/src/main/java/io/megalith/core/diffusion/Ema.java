package io.megalith.core.diffusion;

import java.nio.FloatBuffer;

/**
 * The exponential moving average of weights that DiT samples from: shadow = decay shadow + (1 - decay) theta after
 * every optimizer step, starting from the initial weights ({@code family/dit/WeightAverage} keeps one per rank and
 * checkpoints it).
 */
public final class Ema {
    private Ema() {}

    /**
     * The decay of update {@code n} (0 for the first) with warm-up: min(decay, (1 + n) / (10 + n)), 0.1 at first and
     * reaching 0.999 near n = 9,000 (the usual schedule of diffusion EMAs, e.g. diffusers'): without it the average of
     * a run shorter than ~1 / (1 - decay) steps is mostly the initial weights.
     */
    public static double warmedUp(double decay, long n) {
        return Math.min(decay, (1.0 + n) / (10.0 + n));
    }

    /** One update of {@code shadow} toward {@code values[from, from + shadow.length)}. */
    public static void update(float[] shadow, FloatBuffer values, int from, double decay) {
        update(shadow, 0, shadow.length, values, from, decay);
    }

    /** One update of {@code shadow[at, at + n)} toward {@code values[from, from + n)}. */
    public static void update(float[] shadow, int at, int n, FloatBuffer values, int from, double decay) {
        for (int i = 0; i < n; i++) {
            shadow[at + i] = (float) (decay * shadow[at + i] + (1 - decay) * values.get(from + i));
        }
    }
}
