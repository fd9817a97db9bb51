package io.megalith.core.diffusion;

/**
 * The forward process q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) over T steps t = 0..T-1, in double
 * precision on the host: betas, alphas = 1 - beta and their cumulative products abar_t = prod_{s <= t} alpha_s.
 * <ul>
 *   <li>linear (Ho et al., 2020): beta from 1e-4 to 0.02 over 1000 steps, both ends scaled by 1000/T (as ADM, so
 *       that other T keep the same total noise);
 *   <li>cosine (Nichol and Dhariwal, 2021): abar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) pi/2), s = 0.008,
 *       beta_t = 1 - abar(t+1) / abar(t) clipped at 0.999.
 * </ul>
 */
public final class NoiseSchedule {
    private final double[] betas;
    private final double[] alphas;
    private final double[] alphaBars;

    private NoiseSchedule(double[] betas) {
        this.betas = betas;
        this.alphas = new double[betas.length];
        this.alphaBars = new double[betas.length];
        double prod = 1;
        for (int t = 0; t < betas.length; t++) {
            alphas[t] = 1 - betas[t];
            prod *= alphas[t];
            alphaBars[t] = prod;
        }
    }

    /** {@code linear} or {@code cosine} over {@code steps} steps. */
    public static NoiseSchedule of(String name, int steps) {
        return switch (name) {
            case "linear" -> linear(steps);
            case "cosine" -> cosine(steps);
            default -> throw new IllegalArgumentException("beta schedule " + name + ": linear or cosine");
        };
    }

    public static NoiseSchedule linear(int steps) {
        double scale = 1000.0 / steps;
        double first = scale * 1e-4;
        double last = scale * 0.02;
        double[] b = new double[steps];
        for (int t = 0; t < steps; t++) {
            b[t] = steps == 1 ? first : first + (last - first) * t / (steps - 1);
        }
        return new NoiseSchedule(b);
    }

    public static NoiseSchedule cosine(int steps) {
        double[] b = new double[steps];
        for (int t = 0; t < steps; t++) {
            b[t] = Math.min(1 - cosineAlphaBar(t + 1, steps) / cosineAlphaBar(t, steps), 0.999);
        }
        return new NoiseSchedule(b);
    }

    /** f(t) / f(0) of the cosine schedule at (continuous) step t of T. */
    public static double cosineAlphaBar(double t, int steps) {
        double s = 0.008;
        return f(t, steps, s) / f(0, steps, s);
    }

    private static double f(double t, int steps, double s) {
        double c = Math.cos((t / steps + s) / (1 + s) * Math.PI / 2);
        return c * c;
    }

    public int steps() {
        return betas.length;
    }

    public double beta(int t) {
        return betas[t];
    }

    public double alpha(int t) {
        return alphas[t];
    }

    /** abar_t; abar_{-1} = 1 (no noise). */
    public double alphaBar(int t) {
        return t < 0 ? 1.0 : alphaBars[t];
    }

    /** The variance of q(x_{t-1} | x_t, x_0): beta_t (1 - abar_{t-1}) / (1 - abar_t) (0 at t = 0). */
    public double posteriorVariance(int t) {
        return betas[t] * (1 - alphaBar(t - 1)) / (1 - alphaBar(t));
    }
}
