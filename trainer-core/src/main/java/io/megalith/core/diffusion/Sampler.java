package io.megalith.core.diffusion;

import io.megalith.core.tensor.CounterRng;
import java.util.Arrays;

/**
 * Draws images from a trained {@link Denoiser} by running the reverse process from x_T ~ N(0, I), with
 * classifier-free guidance: each step predicts eps for the rows' conditions (labels, or captions: {@link Conditioning})
 * and unconditionally (the null class, or the null text) in one batch and uses eps = eps_uncond + s (eps_cond -
 * eps_uncond). Host state is double precision. The starting noise and every step's
 * noise of a sample are keyed by CounterRng on (seed, global sample index, t): a sample does not depend on the batch
 * it is drawn in.
 * <ul>
 *   <li>DDPM ancestral (Ho et al.): x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z, with
 *       sigma_t^2 the posterior variance beta_t (1 - abar_{t-1}) / (1 - abar_t), over all T steps;
 *   <li>DDIM (Song et al.) over S timesteps tau (evenly spaced from T-1 down to 0): x0 = (x_t - sqrt(1 - abar_t) eps)
 *       / sqrt(abar_t), sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev),
 *       x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z; eta = 0 is deterministic.
 * </ul>
 */
public final class Sampler {
    private final NoiseSchedule schedule;
    private final Prediction prediction;
    private final Denoiser model;
    private final int nullClass;
    private final int values;
    private final double clip;

    /** {@code values} = C H W of one image; {@code nullClass} the label of the unconditional prediction. */
    public Sampler(NoiseSchedule schedule, Prediction prediction, Denoiser model, int nullClass, int values) {
        this(schedule, prediction, model, nullClass, values, 0);
    }

    private Sampler(NoiseSchedule schedule, Prediction prediction, Denoiser model, int nullClass, int values,
            double clip) {
        this.schedule = schedule;
        this.prediction = prediction;
        this.model = model;
        this.nullClass = nullClass;
        this.values = values;
        this.clip = clip;
    }

    /**
     * This sampler clamping every step's predicted x_0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) to [-limit, limit]
     * (the data's range) and using the noise that clamped x_0 implies (DDPM's clip_denoised): near t = T, 1/sqrt(abar)
     * is large and would amplify the network's error. 0: no clamping.
     */
    public Sampler clipped(double limit) {
        return new Sampler(schedule, prediction, model, nullClass, values, limit);
    }

    /** DDPM ancestral samples of {@code labels}, global sample indices from {@code firstSample}. */
    public float[] ddpm(long[] labels, double guidance, long seed, long firstSample) {
        return ddpm(new Conditioning.Labels(labels), guidance, seed, firstSample);
    }

    /** DDPM ancestral samples of rows conditioned on {@code cond}, global sample indices from {@code firstSample}. */
    public float[] ddpm(Conditioning cond, double guidance, long seed, long firstSample) {
        long key = CounterRng.key(seed, "sample");
        int rows = cond.rows();
        double[] x = noise(key, rows, firstSample, schedule.steps());
        for (int t = schedule.steps() - 1; t >= 0; t--) {
            double[] eps = epsilon(x, t, cond, guidance);
            double coef = schedule.beta(t) / Math.sqrt(1 - schedule.alphaBar(t));
            double inv = 1 / Math.sqrt(schedule.alpha(t));
            double[] z = t > 0 ? noise(key, rows, firstSample, t) : null;
            double sigma = t > 0 ? Math.sqrt(schedule.posteriorVariance(t)) : 0;
            for (int i = 0; i < x.length; i++) {
                x[i] = (x[i] - coef * eps[i]) * inv + (z == null ? 0 : sigma * z[i]);
            }
        }
        return floats(x);
    }

    /** DDIM samples of {@code labels} over {@code steps} timesteps with noise {@code eta}. */
    public float[] ddim(long[] labels, int steps, double eta, double guidance, long seed, long firstSample) {
        return ddim(new Conditioning.Labels(labels), steps, eta, guidance, seed, firstSample);
    }

    /** DDIM samples of rows conditioned on {@code cond} over {@code steps} timesteps with noise {@code eta}. */
    public float[] ddim(Conditioning cond, int steps, double eta, double guidance, long seed, long firstSample) {
        long key = CounterRng.key(seed, "sample");
        int rows = cond.rows();
        int[] taus = ddimTimesteps(schedule.steps(), steps);
        double[] x = noise(key, rows, firstSample, schedule.steps());
        for (int i = taus.length - 1; i >= 0; i--) {
            int t = taus[i];
            int prev = i > 0 ? taus[i - 1] : -1;
            double[] eps = epsilon(x, t, cond, guidance);
            double ab = schedule.alphaBar(t);
            double abPrev = schedule.alphaBar(prev);
            double sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
            double dir = Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma));
            double[] z = sigma > 0 ? noise(key, rows, firstSample, t) : null;
            for (int j = 0; j < x.length; j++) {
                double x0 = (x[j] - Math.sqrt(1 - ab) * eps[j]) / Math.sqrt(ab);
                x[j] = Math.sqrt(abPrev) * x0 + dir * eps[j] + (z == null ? 0 : sigma * z[j]);
            }
        }
        return floats(x);
    }

    /** S timesteps evenly spaced over [0, T-1], ascending, the first 0 and the last T-1. */
    public static int[] ddimTimesteps(int total, int steps) {
        int[] out = new int[steps];
        for (int i = 0; i < steps; i++) {
            out[i] = steps == 1 ? total - 1 : (int) Math.round((double) i * (total - 1) / (steps - 1));
        }
        return out;
    }

    /**
     * The guided noise prediction at x (rows of {@code labels}) and step t: the conditional and the unconditional
     * rows in one batch, eps = eps_uncond + s (eps_cond - eps_uncond).
     */
    public double[] epsilon(double[] x, int t, long[] labels, double guidance) {
        return epsilon(x, t, new Conditioning.Labels(labels), guidance);
    }

    /**
     * The guided noise prediction at x (rows conditioned on {@code condition}) and step t: the conditional rows and the
     * same rows unconditional in one batch, eps = eps_uncond + s (eps_cond - eps_uncond).
     */
    public double[] epsilon(double[] x, int t, Conditioning condition, double guidance) {
        int n = condition.rows();
        float[] in = new float[2 * x.length];
        for (int i = 0; i < x.length; i++) {
            in[i] = (float) x[i];
            in[x.length + i] = (float) x[i];
        }
        long[] ts = new long[2 * n];
        Arrays.fill(ts, t);
        float[] out = model.predict(in, ts, condition.withUnconditional(nullClass), 2 * n);
        double ab = schedule.alphaBar(t);
        double[] eps = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double cond = prediction.epsilon(out[i], in[i], ab);
            double uncond = prediction.epsilon(out[x.length + i], in[i], ab);
            eps[i] = uncond + guidance * (cond - uncond);
            if (clip > 0) {
                double x0 = (x[i] - Math.sqrt(1 - ab) * eps[i]) / Math.sqrt(ab);
                x0 = Math.max(-clip, Math.min(clip, x0));
                eps[i] = (x[i] - Math.sqrt(ab) * x0) / Math.sqrt(1 - ab);
            }
        }
        return eps;
    }

    /** N(0, I) for rows [first, first + rows) at step t. */
    private double[] noise(long key, int rows, long first, int t) {
        double[] z = new double[rows * values];
        for (int r = 0; r < rows; r++) {
            long k = CounterRng.key(key, first + r, t);
            for (int j = 0; j < values; j++) {
                z[r * values + j] = CounterRng.normal(k, j);
            }
        }
        return z;
    }

    private static float[] floats(double[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) x[i];
        }
        return out;
    }
}
