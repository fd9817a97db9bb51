package io.megalith.core.train.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import java.util.List;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.Test;

class AxisTicksTest {
    /** About what a 12 px sans-serif font needs per character. */
    private static final ToIntFunction<String> SEVEN_PX_PER_CHAR = s -> 7 * s.length();

    /** 1, 2 or 5 times a power of ten (the 1-3 log ticks allow 3). */
    private static boolean round(double v, boolean allowThree) {
        if (v == 0) {
            return true;
        }
        BigDecimal b = new BigDecimal(Double.toString(Math.abs(v))).stripTrailingZeros();
        BigDecimal mantissa = b.movePointLeft(b.precision() - b.scale() - 1).stripTrailingZeros();
        String m = mantissa.toPlainString();
        return m.equals("1") || m.equals("2") || m.equals("5") || allowThree && m.equals("3");
    }

    @Test
    void linearTicksAreRoundMultiplesOfOneStepAndCoverTheData() {
        double[][] ranges = {{0, 1}, {0.0026, 2.58}, {1.87, 4.17}, {0, 170_000}, {13, 997}, {1.8965, 1.9012},
            {-3, 7}, {0, 2000}};
        for (double[] r : ranges) {
            for (int max : new int[] {3, 5, 8, 10}) {
                AxisTicks t = AxisTicks.linear(r[0], r[1], max);
                assertThat(t.values().size()).as("%s max %d", List.of(r[0], r[1]), max).isBetween(2, max);
                assertThat(t.min()).isLessThanOrEqualTo(r[0]);
                assertThat(t.max()).isGreaterThanOrEqualTo(r[1]);
                double step = new BigDecimal(t.labels().get(1)).subtract(new BigDecimal(t.labels().get(0)))
                        .doubleValue();
                assertThat(round(step, false)).as("step %s of %s", step, t.values()).isTrue();
                for (int i = 0; i < t.values().size(); i++) {
                    double v = t.values().get(i);
                    assertThat(Math.abs(v / step - Math.rint(v / step))).as("%s of %s", v, t.values()).isLessThan(1e-6);
                    // the label is the exact short text of the value: no 0.30000000000000004, no 1.7E5
                    assertThat(t.labels().get(i)).doesNotContain("E").hasSizeLessThanOrEqualTo(9);
                    assertThat(Double.parseDouble(t.labels().get(i))).isEqualTo(v);
                }
            }
        }
        assertThat(AxisTicks.linear(0, 170_000, 10).labels()).contains("0", "20000", "180000");
        assertThat(AxisTicks.linear(0.0026, 2.58, 7).labels()).containsExactly("0", "0.5", "1", "1.5", "2", "2.5", "3");
        assertThat(AxisTicks.linear(0.0026, 2.58, 6).labels()).containsExactly("0", "1", "2", "3");
    }

    @Test
    void logTicksArePowersOfTenWithTwoAndFiveWhileFewDecades() {
        assertThat(AxisTicks.log(0.0026, 2.58, 12).labels()).containsExactly("0.002", "0.005", "0.01", "0.02",
                "0.05", "0.1", "0.2", "0.5", "1", "2", "5");
        // eleven do not fit in ten: 1-3 steps, then decades
        assertThat(AxisTicks.log(0.0026, 2.58, 10).labels()).containsExactly("0.001", "0.003", "0.01", "0.03", "0.1",
                "0.3", "1", "3");
        assertThat(AxisTicks.log(0.0026, 2.58, 5).labels()).containsExactly("0.001", "0.01", "0.1", "1", "10");
    }

    @Test
    void logTicksRespectTheLimit() {
        for (double[] r : new double[][] {{0.0026, 2.58}, {1e-6, 10}, {0.9, 4.2}, {1e-12, 1e3}}) {
            for (int max : new int[] {4, 6, 10}) {
                AxisTicks t = AxisTicks.log(r[0], r[1], max);
                assertThat(t.values().size()).as("%s..%s max %d: %s", r[0], r[1], max, t.labels()).isBetween(2, max);
                assertThat(t.min()).isLessThanOrEqualTo(r[0]);
                assertThat(t.max()).isGreaterThanOrEqualTo(r[1]);
                t.values().forEach(v -> assertThat(round(v, true)).as("%s", v).isTrue());
            }
        }
        assertThat(AxisTicks.log(0.9, 4.2, 10).labels()).containsExactly("0.5", "1", "2", "5");
        assertThat(AxisTicks.log(1e-6, 10, 10).labels()).containsExactly("1e-6", "1e-5", "1e-4", "0.001", "0.01",
                "0.1", "1", "10");
    }

    @Test
    void fittedTicksNeverOverlap() {
        for (boolean log : new boolean[] {false, true}) {
            for (int pixels : new int[] {120, 300, 705}) {
                double[][] ranges = log ? new double[][] {{0.0026, 2.58}, {1e-7, 9}} :
                    new double[][] {{0, 170_000}, {0, 1_234_567}, {1.8965, 1.9012}, {0, 20}};
                for (double[] r : ranges) {
                    AxisTicks t = AxisTicks.fit(r[0], r[1], log, pixels, 10, SEVEN_PX_PER_CHAR);
                    assertThat(AxisTicks.fits(t, pixels, SEVEN_PX_PER_CHAR)).as("%s at %d px", t.labels(), pixels)
                            .isTrue();
                    for (int i = 1; i < t.values().size(); i++) {
                        double gap = t.position(t.values().get(i), pixels) - t.position(t.values().get(i - 1), pixels);
                        double half = (SEVEN_PX_PER_CHAR.applyAsInt(t.labels().get(i))
                                + SEVEN_PX_PER_CHAR.applyAsInt(t.labels().get(i - 1))) / 2.0;
                        assertThat(gap).isGreaterThan(half);
                    }
                }
            }
        }
        // a wide axis keeps several ticks, a narrow one fewer
        assertThat(AxisTicks.fit(0, 1_234_567, false, 705, 10, SEVEN_PX_PER_CHAR).values().size()).isGreaterThan(4);
        assertThat(AxisTicks.fit(0, 1_234_567, false, 120, 10, SEVEN_PX_PER_CHAR).values().size()).isLessThan(4);
    }
}
