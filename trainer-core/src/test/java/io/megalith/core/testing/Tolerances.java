package io.megalith.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.tensor.HostTensor;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;

/** The comparisons the equivalence tests share. */
public final class Tolerances {
    private Tolerances() {}

    /**
     * Every element of {@code got} within 1e-5 of the largest |element| of {@code want} (at least 1e-6): gradients
     * of one tensor computed in another order or summed over ranks differ by rounding relative to their scale.
     */
    public static void assertCloseToLargest(float[] want, float[] got, String what) {
        assertThat(got).as(what).hasSize(want.length);
        float scale = 1e-6f;
        for (float v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < want.length; i++) {
            assertThat(Math.abs(got[i] - want[i])).as("%s[%d]", what, i).isLessThanOrEqualTo(1e-5f * scale);
        }
    }

    /**
     * The same training in another layout: every step's loss within 1e-5 relative, every weight of {@code want}
     * within 1e-5 of its own magnitude (at least 1e-5 absolute).
     */
    public static void assertSameTraining(List<Double> wantLosses, Map<String, HostTensor> wantWeights,
            List<Double> gotLosses, Map<String, HostTensor> gotWeights, String what) {
        assertThat(gotLosses).as("%s losses", what).hasSameSizeAs(wantLosses);
        for (int s = 0; s < wantLosses.size(); s++) {
            assertThat(gotLosses.get(s)).as("%s step %d loss", what, s + 1)
                    .isCloseTo(wantLosses.get(s), Percentage.withPercentage(1e-3));
        }
        for (Map.Entry<String, HostTensor> e : wantWeights.entrySet()) {
            float[] w = e.getValue().toFloats();
            float[] g = gotWeights.get(e.getKey()).toFloats();
            for (int i = 0; i < w.length; i++) {
                assertThat(Math.abs(g[i] - w[i])).as("%s %s[%d]", what, e.getKey(), i)
                        .isLessThanOrEqualTo(1e-5f * Math.max(1f, Math.abs(w[i])));
            }
        }
    }
}
