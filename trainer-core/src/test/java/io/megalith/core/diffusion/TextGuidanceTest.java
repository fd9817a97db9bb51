package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.Tolerances;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Sampling with text: a text-conditioned DiT's guided prediction is eps_null + s (eps_caption - eps_null), the null
 * branch being the same rows with their captions dropped for the learned null text (s = 0: the null branch, s = 1:
 * the captions' own prediction); captions change the prediction; DDIM with captions is a function of the seed;
 * caption drops are drawn as label drops are.
 */
class TextGuidanceTest {
    static final int TEXT = 12;
    static final int TK = 4;
    static final DitConfig DIT = new DitConfig(1, 8, 8, 2, 2, 4, 32, 0, 32, TEXT);

    static float[] normal(int n, long seed, double std) {
        float[] out = new float[n];
        long key = CounterRng.key(seed, "test");
        for (int i = 0; i < n; i++) {
            out[i] = (float) (std * CounterRng.normal(key, i));
        }
        return out;
    }

    /** Two captions, the first padded after 2 tokens. */
    static Conditioning.Text captions(long seed) {
        boolean[] mask = new boolean[2 * TK];
        Arrays.fill(mask, true);
        mask[2] = false;
        mask[3] = false;
        return new Conditioning.Text(normal(2 * TK * TEXT, seed, 1), new DitText(mask, new boolean[2], 2, TK), TEXT);
    }

    static Conditioning.Text dropped(Conditioning.Text c) {
        return new Conditioning.Text(c.states(), c.text().withDrops(new boolean[] {true, true}), TEXT);
    }

    @Test
    void guidanceCombinesTheCaptionAndNullBranches() {
        Torch.load(1);
        Dit model = new Dit(DIT);
        try (NDManager root = Torch.newManager(); ParameterStore store = new ParameterStore(model, root, 5)) {
            FloatBuffer v = store.values();
            float[] r = normal((int) store.numel(), 8, 0.1);
            for (int i = 0; i < r.length; i++) {
                v.put(i, r[i]); // every layer live, the adaLN-Zero ones too
            }
            DitDenoiser net = new DitDenoiser(model, root);
            Conditioning.Text caps = captions(3);
            int values = 64;
            float[] x = normal(2 * values, 4, 1);
            int t = 37;
            long[] ts = {t, t};
            float[] cond = net.predict(x, ts, caps, 2);
            float[] uncond = net.predict(x, ts, dropped(caps), 2);
            assertThat(max(diff(cond, uncond))).as("the captions change the prediction").isGreaterThan(1e-3f);
            assertThat(max(diff(cond, net.predict(x, ts, captions(4), 2)))).as("other captions, another prediction")
                    .isGreaterThan(1e-3f);
            Sampler sampler = new Sampler(NoiseSchedule.of("linear", 100), Prediction.EPSILON, net, 0, values);
            double[] xd = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                xd[i] = x[i];
            }
            for (double s : new double[] {0, 1, 3}) {
                double[] eps = sampler.epsilon(xd, t, caps, s);
                float[] want = new float[x.length];
                float[] got = new float[x.length];
                for (int i = 0; i < x.length; i++) {
                    want[i] = (float) (uncond[i] + s * (cond[i] - uncond[i]));
                    got[i] = (float) eps[i];
                }
                Tolerances.assertCloseToLargest(want, got, "guidance " + s);
            }
            float[] a = sampler.ddim(caps, 5, 0.0, 2.0, 11, 0);
            assertThat(sampler.ddim(caps, 5, 0.0, 2.0, 11, 0)).containsExactly(a);
            assertThat(a).hasSize(2 * values).doesNotContain(Float.NaN);
        }
    }

    @Test
    void captionDropsAreDrawnAsLabelDrops() {
        DiffusionConfig cfg = new DiffusionConfig(100, "linear", Prediction.EPSILON, 0.3, 10, 0, 2, 0, 0.99);
        Noising noising = new Noising(cfg, 3, 2);
        long[] labels = noising.rows(DitRuns.halves(4, 6, 40), 4, 6).labels();
        boolean[] drops = noising.captionDrops(4, 6, 40);
        int n = 0;
        for (int r = 0; r < 40; r++) {
            assertThat(drops[r]).as("row %d", r).isEqualTo(labels[r] == 2);
            n += drops[r] ? 1 : 0;
        }
        assertThat(n).isBetween(3, 25);
    }

    static float[] diff(float[] a, float[] b) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] - b[i];
        }
        return out;
    }

    static float max(float[] a) {
        float m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
