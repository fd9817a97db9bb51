package io.megalith.core.diffusion;

import java.util.Arrays;

/**
 * The Frechet distance between two sets of feature vectors, each taken as a Gaussian (FID's measure, in whatever
 * feature space the caller chooses, e.g. a trained classifier's penultimate layer):
 * d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), where tr (S1 S2)^(1/2) = tr (S1^(1/2) S2 S1^(1/2))^(1/2), a
 * symmetric positive semi-definite matrix, so both square roots come from symmetric eigendecompositions (Jacobi).
 */
public final class FrechetDistance {
    private FrechetDistance() {}

    /** Between {@code a} and {@code b}: rows are samples (at least 2 each), columns features. */
    public static double between(double[][] a, double[][] b) {
        return fromStatistics(mean(a), covariance(a), mean(b), covariance(b));
    }

    /** From the two Gaussians' means and covariance matrices. */
    public static double fromStatistics(double[] mu1, double[][] s1, double[] mu2, double[][] s2) {
        int d = mu1.length;
        double dist = 0;
        for (int i = 0; i < d; i++) {
            dist += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + s1[i][i] + s2[i][i];
        }
        double[][] root1 = sqrtPsd(s1);
        double[][] m = multiply(multiply(root1, s2), root1);
        symmetrize(m);
        double traceRoot = 0;
        for (double lambda : eigen(m, null)) {
            traceRoot += Math.sqrt(Math.max(lambda, 0));
        }
        return Math.max(dist - 2 * traceRoot, 0);
    }

    static double[] mean(double[][] x) {
        double[] mu = new double[x[0].length];
        for (double[] row : x) {
            for (int j = 0; j < mu.length; j++) {
                mu[j] += row[j];
            }
        }
        for (int j = 0; j < mu.length; j++) {
            mu[j] /= x.length;
        }
        return mu;
    }

    /** The unbiased sample covariance (divided by n - 1). */
    static double[][] covariance(double[][] x) {
        if (x.length < 2) {
            throw new IllegalArgumentException("a covariance needs at least 2 samples, got " + x.length);
        }
        double[] mu = mean(x);
        int d = mu.length;
        double[][] s = new double[d][d];
        for (double[] row : x) {
            for (int i = 0; i < d; i++) {
                double ci = row[i] - mu[i];
                for (int j = i; j < d; j++) {
                    s[i][j] += ci * (row[j] - mu[j]);
                }
            }
        }
        for (int i = 0; i < d; i++) {
            for (int j = i; j < d; j++) {
                s[i][j] /= x.length - 1;
                s[j][i] = s[i][j];
            }
        }
        return s;
    }

    /** The symmetric square root of a symmetric positive semi-definite matrix (negative rounding clamped to 0). */
    static double[][] sqrtPsd(double[][] s) {
        int d = s.length;
        double[][] vectors = new double[d][d];
        double[] lambda = eigen(s, vectors);
        double[][] root = new double[d][d];
        for (int k = 0; k < d; k++) {
            double r = Math.sqrt(Math.max(lambda[k], 0));
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < d; j++) {
                    root[i][j] += vectors[i][k] * r * vectors[j][k];
                }
            }
        }
        return root;
    }

    /**
     * Eigenvalues of the symmetric {@code s} by cyclic Jacobi rotations (not modified); with {@code vectors} non-null,
     * its columns become the eigenvectors.
     */
    static double[] eigen(double[][] s, double[][] vectors) {
        int d = s.length;
        double[][] a = new double[d][];
        for (int i = 0; i < d; i++) {
            a[i] = s[i].clone();
        }
        double[][] v = vectors != null ? vectors : new double[d][d];
        for (int i = 0; i < d; i++) {
            Arrays.fill(v[i], 0);
            v[i][i] = 1;
        }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            double scale = 0;
            for (int i = 0; i < d; i++) {
                scale += a[i][i] * a[i][i];
                for (int j = i + 1; j < d; j++) {
                    off += a[i][j] * a[i][j];
                }
            }
            if (off <= 1e-30 * Math.max(scale, 1e-300)) {
                break;
            }
            for (int p = 0; p < d; p++) {
                for (int q = p + 1; q < d; q++) {
                    if (a[p][q] == 0) {
                        continue;
                    }
                    // the rotation that zeroes a[p][q]: tan(2 theta) = 2 a_pq / (a_qq - a_pp)
                    double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) {
                        t = 1;
                    }
                    double c = 1 / Math.sqrt(t * t + 1);
                    double sn = t * c;
                    for (int k = 0; k < d; k++) { // columns p, q
                        double akp = a[k][p];
                        double akq = a[k][q];
                        a[k][p] = c * akp - sn * akq;
                        a[k][q] = sn * akp + c * akq;
                    }
                    for (int k = 0; k < d; k++) { // rows p, q
                        double apk = a[p][k];
                        double aqk = a[q][k];
                        a[p][k] = c * apk - sn * aqk;
                        a[q][k] = sn * apk + c * aqk;
                    }
                    for (int k = 0; k < d; k++) {
                        double vkp = v[k][p];
                        double vkq = v[k][q];
                        v[k][p] = c * vkp - sn * vkq;
                        v[k][q] = sn * vkp + c * vkq;
                    }
                }
            }
        }
        double[] lambda = new double[d];
        for (int i = 0; i < d; i++) {
            lambda[i] = a[i][i];
        }
        return lambda;
    }

    private static double[][] multiply(double[][] x, double[][] y) {
        int n = x.length;
        int m = y[0].length;
        double[][] out = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < y.length; k++) {
                double xik = x[i][k];
                for (int j = 0; j < m; j++) {
                    out[i][j] += xik * y[k][j];
                }
            }
        }
        return out;
    }

    private static void symmetrize(double[][] m) {
        for (int i = 0; i < m.length; i++) {
            for (int j = i + 1; j < m.length; j++) {
                double avg = (m[i][j] + m[j][i]) / 2;
                m[i][j] = avg;
                m[j][i] = avg;
            }
        }
    }
}
