package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/** The beta schedules against their closed forms, and what follows from them. */
class NoiseScheduleTest {
    @Test
    void linearBetasRunFromOneEMinus4To002ScaledByThousandOverT() {
        NoiseSchedule s = NoiseSchedule.linear(1000);
        assertThat(s.steps()).isEqualTo(1000);
        assertThat(s.beta(0)).isEqualTo(1e-4);
        assertThat(s.beta(999)).isCloseTo(0.02, Offset.offset(1e-15));
        assertThat(s.beta(500)).isCloseTo(1e-4 + (0.02 - 1e-4) * 500 / 999, Offset.offset(1e-15));
        double prod = 1;
        for (int t = 0; t < 1000; t++) {
            prod *= 1 - s.beta(t);
            assertThat(s.alpha(t)).isEqualTo(1 - s.beta(t));
            assertThat(s.alphaBar(t)).isCloseTo(prod, Offset.offset(1e-15));
        }
        assertThat(s.alphaBar(999)).isCloseTo(4.036e-5, Offset.offset(1e-7)); // the DDPM schedule's end
        NoiseSchedule short100 = NoiseSchedule.linear(100);
        assertThat(short100.beta(0)).isCloseTo(1e-3, Offset.offset(1e-15));
        assertThat(short100.beta(99)).isCloseTo(0.2, Offset.offset(1e-15));
    }

    @Test
    void cosineAlphaBarIsTheSquaredCosineUntilBetasClip() {
        int steps = 1000;
        NoiseSchedule s = NoiseSchedule.cosine(steps);
        double f0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
        int clipped = 0;
        for (int t = 0; t < steps; t++) {
            assertThat(s.beta(t)).isLessThanOrEqualTo(0.999).isGreaterThan(0);
            if (s.beta(t) == 0.999) {
                clipped++;
                continue;
            }
            double want = Math.pow(Math.cos(((t + 1.0) / steps + 0.008) / 1.008 * Math.PI / 2), 2) / f0;
            assertThat(s.alphaBar(t)).as("abar_%d", t).isCloseTo(want, Offset.offset(1e-12));
        }
        assertThat(clipped).as("only the last betas clip").isBetween(1, 3);
        assertThat(s.beta(steps - 1)).isEqualTo(0.999);
        assertThat(s.alphaBar(-1)).isEqualTo(1.0);
    }

    @Test
    void posteriorVarianceIsBetaTildeAndZeroAtTheFirstStep() {
        NoiseSchedule s = NoiseSchedule.of("linear", 50);
        assertThat(s.posteriorVariance(0)).isEqualTo(0.0);
        for (int t = 1; t < 50; t++) {
            double want = s.beta(t) * (1 - s.alphaBar(t - 1)) / (1 - s.alphaBar(t));
            assertThat(s.posteriorVariance(t)).isCloseTo(want, Offset.offset(1e-15)).isLessThan(s.beta(t));
        }
        assertThatThrownBy(() -> NoiseSchedule.of("sigmoid", 10)).hasMessageContaining("linear or cosine");
    }

    @Test
    void vPredictionConvertsBackToTheNoise() {
        double x0 = 0.7;
        double eps = -1.3;
        for (double ab : new double[] {0.999, 0.5, 0.01}) {
            double xt = Math.sqrt(ab) * x0 + Math.sqrt(1 - ab) * eps;
            double v = Prediction.V.target(x0, eps, ab);
            assertThat(v).isCloseTo(Math.sqrt(ab) * eps - Math.sqrt(1 - ab) * x0, Offset.offset(1e-15));
            assertThat(Prediction.V.epsilon(v, xt, ab)).isCloseTo(eps, Offset.offset(1e-12));
            assertThat(Prediction.EPSILON.epsilon(eps, xt, ab)).isEqualTo(eps);
        }
    }
}
