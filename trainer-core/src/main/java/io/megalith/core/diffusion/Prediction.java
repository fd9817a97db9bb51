package io.megalith.core.diffusion;

/**
 * What the network regresses: the noise eps (Ho et al.), or v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans and
 * Ho, 2022). Either gives the other given x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps.
 */
public enum Prediction {
    EPSILON, V;

    public static Prediction of(String name) {
        return switch (name) {
            case "epsilon", "eps" -> EPSILON;
            case "v" -> V;
            default -> throw new IllegalArgumentException("diffusion prediction " + name + ": epsilon or v");
        };
    }

    /** The regression target of a row: eps, or v. */
    public double target(double x0, double eps, double alphaBar) {
        return this == EPSILON ? eps : Math.sqrt(alphaBar) * eps - Math.sqrt(1 - alphaBar) * x0;
    }

    /** The noise eps implied by the network's output at x_t: eps = sqrt(abar) v + sqrt(1 - abar) x_t for v. */
    public double epsilon(double output, double xt, double alphaBar) {
        return this == EPSILON ? output : Math.sqrt(alphaBar) * output + Math.sqrt(1 - alphaBar) * xt;
    }
}
