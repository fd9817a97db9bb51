package io.megalith.core.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class AdamWTest {
    private static final double B1 = 0.9;
    private static final double B2 = 0.95;
    private static final double WD = 0.1;

    /**
     * torch.optim.AdamW's single-tensor update (torch/optim/adamw.py, amsgrad off), in double, with the
     * gradient first scaled by {@code clip} as torch.nn.utils.clip_grad_norm_ does in place.
     */
    static final class Reference {
        final double[] p;
        final double[] m;
        final double[] v;
        final double[] path; // sum of |change| per element over all steps, of p, m and v
        final double[] mPath;
        final double[] vPath;
        final int decayElements;
        final double eps;
        final boolean epsInsideBiasCorrection; // a deliberately wrong variant (DJL's placement), for a control
        final boolean decayAfterUpdate; // another wrong variant, for a control
        int step;

        Reference(float[] p, int decayElements, double eps, boolean epsInsideBiasCorrection, boolean decayAfterUpdate) {
            this.p = new double[p.length];
            for (int i = 0; i < p.length; i++) {
                this.p[i] = p[i];
            }
            this.m = new double[p.length];
            this.v = new double[p.length];
            this.path = new double[p.length];
            this.mPath = new double[p.length];
            this.vPath = new double[p.length];
            this.decayElements = decayElements;
            this.eps = eps;
            this.epsInsideBiasCorrection = epsInsideBiasCorrection;
            this.decayAfterUpdate = decayAfterUpdate;
        }

        void step(float[] grads, double lr, double clip) {
            step++;
            double bc1 = 1 - Math.pow(B1, step);
            double bc2 = 1 - Math.pow(B2, step);
            for (int i = 0; i < p.length; i++) {
                double g = grads[i] * clip;
                double before = p[i];
                if (i < decayElements && !decayAfterUpdate) {
                    p[i] *= 1 - lr * WD;
                }
                double m0 = m[i];
                double v0 = v[i];
                m[i] = B1 * m[i] + (1 - B1) * g;
                v[i] = B2 * v[i] + (1 - B2) * g * g;
                mPath[i] += Math.abs(m[i] - m0);
                vPath[i] += Math.abs(v[i] - v0);
                double denom = epsInsideBiasCorrection ? (Math.sqrt(v[i]) + eps) / Math.sqrt(bc2)
                        : Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
                p[i] -= lr / bc1 * m[i] / denom;
                if (i < decayElements && decayAfterUpdate) {
                    p[i] *= 1 - lr * WD;
                }
                path[i] += Math.abs(p[i] - before);
            }
        }
    }

    /** Parameters ~N(0, 0.1); gradient magnitudes spread over 1e-6..1 so that eps matters for some. */
    private static float[] params(Random r, int n) {
        float[] p = new float[n];
        for (int i = 0; i < n; i++) {
            p[i] = (float) (0.1 * r.nextGaussian());
        }
        return p;
    }

    private static float[] grads(Random r, int n) {
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            g[i] = (float) (r.nextGaussian() * Math.pow(10, -6 * r.nextDouble()));
        }
        return g;
    }

    private static FloatBuffer direct(float[] values) {
        FloatBuffer b = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        b.put(values).flip();
        return b;
    }

    /**
     * Largest |a - ref| relative to the larger of |ref| and {@code path} (the total distance a value
     * travelled: float32 rounding scales with the magnitudes it passed through, which matters for values
     * that cross zero), with a floor of 1e-3 of the largest |ref|.
     */
    private static double maxRelError(float[] a, double[] ref, double[] path) {
        double scale = 0;
        for (double x : ref) {
            scale = Math.max(scale, Math.abs(x));
        }
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            double travelled = path == null ? 0 : path[i];
            double denom = Math.max(Math.max(Math.abs(ref[i]), travelled), 1e-3 * scale);
            worst = Math.max(worst, Math.abs(a[i] - ref[i]) / denom);
        }
        return worst;
    }

    private static double maxRelError(FloatBuffer a, double[] ref, double[] path) {
        float[] arr = new float[a.remaining()];
        a.duplicate().get(arr);
        return maxRelError(arr, ref, path);
    }

    @Test
    void matchesTorchAdamWOverSeveralSteps() {
        // over two 4096-element chunks, the decay boundary inside the second chunk
        int n = 10_003;
        int decay = 5_001;
        double eps = 1e-6;
        Random r = new Random(42);
        float[] p0 = params(r, n);
        FloatBuffer params = direct(p0);
        AdamW opt = new AdamW(n, decay, B1, B2, eps, WD);
        Reference ref = new Reference(p0, decay, eps, false, false);
        Reference djlEps = new Reference(p0, decay, eps, true, false);
        Reference lateDecay = new Reference(p0, decay, eps, false, true);
        double[] lrs = {1e-2, 3e-2, 2e-2, 5e-3, 1e-2, 4e-2};
        double[] clips = {0.5, 1.0, 0.25, 0.8, 1.0, 0.6};
        for (int s = 0; s < lrs.length; s++) {
            float[] g = grads(r, n);
            opt.step(params, direct(g), lrs[s], clips[s]);
            ref.step(g, lrs[s], clips[s]);
            djlEps.step(g, lrs[s], clips[s]);
            lateDecay.step(g, lrs[s], clips[s]);
            System.out.printf("step %d: max rel err params %.2e, m %.2e, v %.2e%n", s + 1,
                    maxRelError(params, ref.p, ref.path), maxRelError(opt.expAvg(), ref.m, ref.mPath),
                    maxRelError(opt.expAvgSq(), ref.v, ref.vPath));
            assertThat(maxRelError(params, ref.p, ref.path)).as("params after step %d", s + 1).isLessThan(1e-5);
            assertThat(maxRelError(opt.expAvg(), ref.m, ref.mPath)).as("first moments after step %d", s + 1).isLessThan(1e-5);
            assertThat(maxRelError(opt.expAvgSq(), ref.v, ref.vPath)).as("second moments after step %d", s + 1).isLessThan(1e-5);
        }
        assertThat(opt.stepCount()).isEqualTo(lrs.length);
        // controls: the comparison is sharp enough to tell torch's update from near variants
        assertThat(maxRelError(params, djlEps.p, djlEps.path)).as("eps inside the bias correction").isGreaterThan(1e-4);
        assertThat(maxRelError(params, lateDecay.p, lateDecay.path)).as("decay after the update").isGreaterThan(1e-4);
        // and the parameters did move
        assertThat(maxRelError(p0, ref.p, null)).isGreaterThan(0.1);
    }

    @Test
    void decayAppliesOnlyToTheDecayRange() {
        int n = 9_000;
        int decay = 4_100; // just past the first chunk
        Random r = new Random(1);
        float[] p0 = params(r, n);
        FloatBuffer params = direct(p0);
        AdamW opt = new AdamW(n, decay, B1, B2, 1e-8, 0.5);
        double lr = 0.1;
        // zero gradients: the Adam term is exactly 0, only decoupled decay moves parameters
        opt.step(params, direct(new float[n]), lr, 1.0);
        float factor = (float) (1 - lr * 0.5);
        for (int i = 0; i < n; i++) {
            float expected = i < decay ? p0[i] * factor : p0[i];
            assertThat(params.get(i)).as("element %d", i).isEqualTo(expected);
        }
    }

    @Test
    void worksOnBufferWindowsWithAPosition() {
        int n = 5_000;
        Random r = new Random(9);
        float[] p0 = params(r, n);
        float[] g = grads(r, n);
        FloatBuffer plain = direct(p0);
        new AdamW(n, 1_000, B1, B2, 1e-8, WD).step(plain, direct(g), 1e-2, 0.7);

        // the same data at offsets 3 and 7 of larger heap buffers, e.g. a shard of a flat buffer
        FloatBuffer params = FloatBuffer.allocate(n + 10);
        FloatBuffer grads = FloatBuffer.allocate(n + 20);
        params.put(3, p0);
        grads.put(7, g);
        params.put(0, -1f).put(n + 3, -1f);
        params.position(3).limit(n + 3);
        grads.position(7).limit(n + 7);
        new AdamW(n, 1_000, B1, B2, 1e-8, WD).step(params, grads, 1e-2, 0.7);
        assertThat(params.position()).isEqualTo(3);
        for (int i = 0; i < n; i++) {
            assertThat(params.get(3 + i)).isEqualTo(plain.get(i));
        }
        params.clear();
        assertThat(params.get(0)).isEqualTo(-1f);
        assertThat(params.get(n + 3)).isEqualTo(-1f);
    }

    @Test
    void resumingFromSavedStateContinuesIdentically() {
        int n = 3_000;
        Random r = new Random(5);
        float[] p0 = params(r, n);
        float[][] gs = new float[5][];
        for (int s = 0; s < gs.length; s++) {
            gs[s] = grads(r, n);
        }
        FloatBuffer a = direct(p0);
        AdamW straight = new AdamW(n, 1_500, B1, B2, 1e-8, WD);
        for (float[] g : gs) {
            straight.step(a, direct(g), 1e-2, 1.0);
        }
        FloatBuffer b = direct(p0);
        AdamW first = new AdamW(n, 1_500, B1, B2, 1e-8, WD);
        for (int s = 0; s < 3; s++) {
            first.step(b, direct(gs[s]), 1e-2, 1.0);
        }
        AdamW resumed = new AdamW(n, 1_500, B1, B2, 1e-8, WD);
        resumed.expAvg().put(first.expAvg());
        resumed.expAvgSq().put(first.expAvgSq());
        resumed.setStepCount(first.stepCount());
        for (int s = 3; s < gs.length; s++) {
            resumed.step(b, direct(gs[s]), 1e-2, 1.0);
        }
        assertThat(b).isEqualTo(a);
        assertThat(resumed.stepCount()).isEqualTo(5);
    }

    @Test
    void rejectsMismatchedLengths() {
        AdamW opt = new AdamW(10, 5, B1, B2, 1e-8, WD);
        assertThatThrownBy(() -> opt.step(FloatBuffer.allocate(10), FloatBuffer.allocate(9), 1e-3, 1))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new AdamW(10, 11, B1, B2, 1e-8, WD)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void l2NormMatchesDoubleReference() {
        Random r = new Random(3);
        for (int n : new int[] {0, 1, 3, 4, 7, 1_000, 12_345}) {
            float[] g = grads(r, n);
            double sq = 0;
            for (float x : g) {
                sq += (double) x * x;
            }
            assertThat(AdamW.l2Norm(direct(g))).as("n = %d", n).isCloseTo(Math.sqrt(sq),
                    Offset.offset(1e-12 * Math.sqrt(sq)));
            // only the buffer's window counts
            FloatBuffer window = FloatBuffer.allocate(n + 6);
            window.put(0, 100f).put(1, 100f).put(n + 2, 100f);
            window.put(2, g);
            window.position(2).limit(n + 2);
            assertThat(AdamW.l2Norm(window)).isCloseTo(Math.sqrt(sq), Offset.offset(1e-12 * Math.sqrt(sq)));
        }
        assertThat(AdamW.l2Norm(direct(new float[] {3f, 4f}))).isEqualTo(5.0);
    }
}
