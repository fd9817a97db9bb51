package io.megalith.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

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
}
