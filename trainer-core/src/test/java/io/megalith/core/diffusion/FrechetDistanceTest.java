package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The Frechet distance against closed forms it must agree with. */
class FrechetDistanceTest {
    private static double[][] randomPsd(Random rnd, int d) {
        double[][] g = new double[d][d];
        for (double[] row : g) {
            for (int j = 0; j < d; j++) {
                row[j] = rnd.nextGaussian();
            }
        }
        double[][] s = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                for (int k = 0; k < d; k++) {
                    s[i][j] += g[i][k] * g[j][k] / d;
                }
            }
        }
        return s;
    }

    @Test
    void theSquareRootSquaresBack() {
        double[][] s = randomPsd(new Random(3), 16);
        double[][] r = FrechetDistance.sqrtPsd(s);
        for (int i = 0; i < 16; i++) {
            for (int j = 0; j < 16; j++) {
                double rr = 0;
                for (int k = 0; k < 16; k++) {
                    rr += r[i][k] * r[k][j];
                }
                assertThat(rr).isCloseTo(s[i][j], within(1e-10));
            }
        }
    }

    @Test
    void diagonalCovariancesGiveTheClosedForm() {
        double[] mu1 = {1, 2, -1};
        double[] mu2 = {0.5, 2, 1};
        double[] v1 = {4, 1, 0.25};
        double[] v2 = {1, 9, 0.25};
        double want = 0.25 + 0 + 4; // |mu1 - mu2|^2
        for (int i = 0; i < 3; i++) {
            want += Math.pow(Math.sqrt(v1[i]) - Math.sqrt(v2[i]), 2);
        }
        double got = FrechetDistance.fromStatistics(mu1, diag(v1), mu2, diag(v2));
        assertThat(got).isCloseTo(want, within(1e-12));
    }

    /** 2x2: tr (S1 S2)^(1/2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)), for covariances that do not commute. */
    @Test
    void twoByTwoAgreesWithTheTraceDeterminantForm() {
        double[][] s1 = {{2, 0.7}, {0.7, 1}};
        double[][] s2 = {{0.5, -0.3}, {-0.3, 3}};
        double trProduct = s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0] + s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1];
        double det1 = s1[0][0] * s1[1][1] - s1[0][1] * s1[1][0];
        double det2 = s2[0][0] * s2[1][1] - s2[0][1] * s2[1][0];
        // means differ by (1, 0); tr S1 = 3, tr S2 = 3.5
        double want = 1 + 3 + 3.5 - 2 * Math.sqrt(trProduct + 2 * Math.sqrt(det1 * det2));
        double got = FrechetDistance.fromStatistics(new double[] {1, 0}, s1, new double[] {0, 0}, s2);
        assertThat(got).isCloseTo(want, within(1e-12));
    }

    @Test
    void aShiftedSetIsItsShiftAway() {
        Random rnd = new Random(7);
        double[][] a = new double[200][8];
        double[][] b = new double[200][8];
        for (int n = 0; n < 200; n++) {
            for (int j = 0; j < 8; j++) {
                a[n][j] = rnd.nextGaussian() * (j + 1);
                b[n][j] = a[n][j] + (j == 3 ? 2 : 0);
            }
        }
        assertThat(FrechetDistance.between(a, a)).isCloseTo(0, within(1e-8));
        assertThat(FrechetDistance.between(a, b)).isCloseTo(4, within(1e-8));
    }

    private static double[][] diag(double[] v) {
        double[][] m = new double[v.length][v.length];
        for (int i = 0; i < v.length; i++) {
            m[i][i] = v[i];
        }
        return m;
    }
}
