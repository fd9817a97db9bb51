package io.megalith.core.diffusion;

import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.model.dit.DitBatch;
import io.megalith.core.tensor.CounterRng;

/**
 * The DDPM training rows: for each image x_0, a timestep t uniform in [0, T), noise eps ~ N(0, I),
 * x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, and the target eps (or v); the label is replaced by the null class
 * with probability {@code classDropout} (classifier-free guidance; a text-conditioned DiT's caption by the null text,
 * {@link #captionDrops}). t, eps and the label drop of a row are keyed by
 * CounterRng on (seed, step, global row), so a row is the same however the step's batch is cut over ranks.
 */
public final class Noising {
    private final NoiseSchedule schedule;
    private final DiffusionConfig cfg;
    private final long key;
    private final int nullClass;

    public Noising(DiffusionConfig cfg, long seed, int nullClass) {
        this.cfg = cfg;
        this.schedule = cfg.noiseSchedule();
        this.key = CounterRng.key(seed, "diffusion");
        this.nullClass = nullClass;
    }

    public NoiseSchedule schedule() {
        return schedule;
    }

    /** The rows of {@code images}, rows [firstRow, firstRow + rows) of step {@code step}'s global batch, noised. */
    public DitBatch rows(ImageBatch images, long step, long firstRow) {
        int n = images.rows();
        int per = images.channels() * images.height() * images.width();
        float[] x0 = images.pixels();
        float[] xt = new float[x0.length];
        float[] target = new float[x0.length];
        long[] t = new long[n];
        long[] labels = new long[n];
        for (int r = 0; r < n; r++) {
            long rowKey = CounterRng.key(key, step, firstRow + r);
            t[r] = CounterRng.below(rowKey, 0, schedule.steps());
            labels[r] = dropped(rowKey) ? nullClass : images.labels()[r];
            long noiseKey = CounterRng.key(rowKey, "noise");
            double ab = schedule.alphaBar((int) t[r]);
            double a = Math.sqrt(ab);
            double s = Math.sqrt(1 - ab);
            for (int j = 0; j < per; j++) {
                int i = r * per + j;
                double eps = CounterRng.normal(noiseKey, j);
                xt[i] = (float) (a * x0[i] + s * eps);
                target[i] = (float) cfg.prediction().target(x0[i], eps, ab);
            }
        }
        return new DitBatch(xt, t, labels, target, n);
    }

    /**
     * Which of rows [firstRow, firstRow + rows) of step {@code step} drop their caption for the null text: the same
     * draw, on the same key, as a class-conditioned row's label drop in {@link #rows}.
     */
    public boolean[] captionDrops(long step, long firstRow, int rows) {
        boolean[] out = new boolean[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = dropped(CounterRng.key(key, step, firstRow + r));
        }
        return out;
    }

    private boolean dropped(long rowKey) {
        return CounterRng.uniform(rowKey, 1) < cfg.classDropout();
    }
}
