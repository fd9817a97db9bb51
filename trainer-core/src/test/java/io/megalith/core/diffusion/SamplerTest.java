package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * The samplers: with an oracle network (the exact noise of a known x_0) DDIM at eta 0 and DDPM both end at x_0;
 * samples are a function of the seed and of their global index only; guidance mixes the two predictions as
 * eps_u + s (eps_c - eps_u), and at s = 1 is the conditional prediction.
 */
class SamplerTest {
    static final int VALUES = 12;

    /** A known x_0 per class. */
    static double x0(long label, int j) {
        return Math.sin(1.7 * label + 0.9 * j);
    }

    /** The noise that makes x_t out of the class's x_0 (in eps or v form): what a perfect network predicts. */
    static Denoiser oracle(NoiseSchedule s, Prediction p) {
        return (x, t, labels, rows) -> {
            float[] out = new float[x.length];
            for (int r = 0; r < rows; r++) {
                double ab = s.alphaBar((int) t[r]);
                for (int j = 0; j < VALUES; j++) {
                    int i = r * VALUES + j;
                    double eps = (x[i] - Math.sqrt(ab) * x0(labels[r], j)) / Math.sqrt(1 - ab);
                    out[i] = (float) p.target(x0(labels[r], j), eps, ab);
                }
            }
            return out;
        };
    }

    /** A smooth, label-dependent stand-in network. */
    static Denoiser smooth() {
        return (x, t, labels, rows) -> {
            float[] out = new float[x.length];
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < VALUES; j++) {
                    int i = r * VALUES + j;
                    out[i] = (float) (0.5 * x[i] + 0.1 * labels[r] - 0.001 * t[r] + 0.05 * j);
                }
            }
            return out;
        };
    }

    static void assertRecovers(float[] got, long[] labels, double tol) {
        for (int r = 0; r < labels.length; r++) {
            for (int j = 0; j < VALUES; j++) {
                assertThat((double) got[r * VALUES + j]).as("sample %d [%d]", r, j)
                        .isCloseTo(x0(labels[r], j), Offset.offset(tol));
            }
        }
    }

    @Test
    void ddimWithEtaZeroAndDdpmRecoverX0FromAnOracle() {
        long[] labels = {0, 1, 2, 1};
        for (String name : new String[] {"linear", "cosine"}) {
            NoiseSchedule s = NoiseSchedule.of(name, 1000);
            for (Prediction p : Prediction.values()) {
                Sampler sampler = new Sampler(s, p, oracle(s, p), 3, VALUES);
                assertRecovers(sampler.ddim(labels, 50, 0.0, 1.0, 7, 0), labels, 1e-3);
                assertRecovers(sampler.ddim(labels, 10, 1.0, 1.0, 7, 0), labels, 1e-3);
            }
            Sampler ddpm = new Sampler(s, Prediction.EPSILON, oracle(s, Prediction.EPSILON), 3, VALUES);
            assertRecovers(ddpm.ddpm(labels, 1.0, 3, 0), labels, 1e-3);
        }
    }

    @Test
    void clampingThePredictedX0KeepsSamplesInRange() {
        long[] labels = {0, 1, 2};
        NoiseSchedule s = NoiseSchedule.cosine(200);
        Sampler sampler = new Sampler(s, Prediction.EPSILON, oracle(s, Prediction.EPSILON), 3, VALUES);
        assertRecovers(sampler.clipped(1.5).ddim(labels, 20, 0.0, 1.0, 7, 0), labels, 1e-3); // x_0 within range
        float[] squeezed = sampler.clipped(0.5).ddim(labels, 20, 0.0, 1.0, 7, 0);
        for (int r = 0; r < labels.length; r++) {
            for (int j = 0; j < VALUES; j++) {
                double want = Math.max(-0.5, Math.min(0.5, x0(labels[r], j)));
                assertThat((double) squeezed[r * VALUES + j]).isCloseTo(want, Offset.offset(1e-3));
            }
        }
    }

    @Test
    void ddimTimestepsSpanTheSchedule() {
        assertThat(Sampler.ddimTimesteps(1000, 5)).containsExactly(0, 250, 500, 749, 999);
        assertThat(Sampler.ddimTimesteps(10, 10)).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        assertThat(Sampler.ddimTimesteps(10, 1)).containsExactly(9);
    }

    @Test
    void samplesDependOnTheSeedAndTheirIndexOnly() {
        NoiseSchedule s = NoiseSchedule.linear(100);
        Sampler sampler = new Sampler(s, Prediction.EPSILON, smooth(), 3, VALUES);
        long[] labels = {0, 2, 1, 1};
        float[] ddpm = sampler.ddpm(labels, 2.0, 11, 0);
        assertThat(sampler.ddpm(labels, 2.0, 11, 0)).containsExactly(ddpm);
        assertThat(sampler.ddpm(labels, 2.0, 12, 0)).isNotEqualTo(ddpm);
        float[] tail = sampler.ddpm(new long[] {1, 1}, 2.0, 11, 2); // samples 2, 3 drawn in a batch of their own
        assertThat(tail).containsExactly(Arrays.copyOfRange(ddpm, 2 * VALUES, 4 * VALUES));
        for (double eta : new double[] {0.0, 0.5}) {
            float[] ddim = sampler.ddim(labels, 20, eta, 2.0, 11, 0);
            assertThat(sampler.ddim(labels, 20, eta, 2.0, 11, 0)).containsExactly(ddim);
            assertThat(sampler.ddim(new long[] {1, 1}, 20, eta, 2.0, 11, 2))
                    .containsExactly(Arrays.copyOfRange(ddim, 2 * VALUES, 4 * VALUES));
            assertThat(ddim).isNotEqualTo(ddpm);
        }
        assertThat(sampler.ddim(labels, 20, 0.5, 2.0, 11, 0)).isNotEqualTo(sampler.ddim(labels, 20, 0.5, 2.0, 12, 0));
    }

    @Test
    void guidanceMixesTheConditionalAndNullPredictions() {
        NoiseSchedule s = NoiseSchedule.linear(100);
        Denoiser net = smooth();
        Sampler sampler = new Sampler(s, Prediction.EPSILON, net, 3, VALUES);
        Random r = new Random(1);
        double[] x = new double[2 * VALUES];
        float[] xf = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            xf[i] = (float) r.nextGaussian();
            x[i] = xf[i];
        }
        long[] labels = {2, 0};
        float[] cond = net.predict(xf, new long[] {40, 40}, labels, 2);
        float[] uncond = net.predict(xf, new long[] {40, 40}, new long[] {3, 3}, 2);
        double[] guided = sampler.epsilon(x, 40, labels, 4.0);
        double[] one = sampler.epsilon(x, 40, labels, 1.0);
        for (int i = 0; i < x.length; i++) {
            assertThat(guided[i]).isCloseTo(uncond[i] + 4.0 * ((double) cond[i] - uncond[i]), Offset.offset(1e-12));
            assertThat(one[i]).isEqualTo((double) cond[i]);
        }
    }

    /** At scale 1 the guided DiT prediction (conditional and null rows in one batch) is its conditional one. */
    @Test
    void guidanceScaleOneIsTheConditionalDitPrediction() {
        Torch.load(1);
        DitConfig cfg = new DitConfig(1, 4, 4, 2, 2, 2, 8, 3, 16);
        Dit model = new Dit(cfg);
        try (NDManager root = Torch.newManager(); ParameterStore store = new ParameterStore(model, root, 3)) {
            FloatBuffer v = store.values();
            Random r = new Random(5);
            for (int i = 0; i < store.numel(); i++) {
                v.put(i, (float) (0.3 * r.nextGaussian())); // zero-initialised layers would predict 0 for every class
            }
            Denoiser net = new DitDenoiser(model, root);
            Sampler sampler = new Sampler(NoiseSchedule.cosine(100), Prediction.EPSILON, net, 3, 16);
            long[] labels = {0, 2, 1};
            float[] xf = new float[3 * 16];
            double[] x = new double[xf.length];
            for (int i = 0; i < xf.length; i++) {
                xf[i] = (float) r.nextGaussian();
                x[i] = xf[i];
            }
            float[] cond = net.predict(xf, new long[] {30, 30, 30}, labels, 3);
            float[] uncond = net.predict(xf, new long[] {30, 30, 30}, new long[] {3, 3, 3}, 3);
            double[] one = sampler.epsilon(x, 30, labels, 1.0);
            double[] three = sampler.epsilon(x, 30, labels, 3.0);
            double gap = 0;
            for (int i = 0; i < xf.length; i++) {
                assertThat(one[i]).isCloseTo(cond[i], Offset.offset(1e-5));
                assertThat(three[i]).isCloseTo(uncond[i] + 3.0 * (cond[i] - uncond[i]), Offset.offset(1e-4));
                gap = Math.max(gap, Math.abs(cond[i] - uncond[i]));
            }
            assertThat(gap).as("the label matters").isGreaterThan(1e-3);
        }
    }
}
