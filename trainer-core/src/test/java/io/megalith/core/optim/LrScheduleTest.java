package io.megalith.core.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
    private static final double LR = 6e-4;
    private static final double MIN = 6e-5;
    private final LrSchedule schedule = new LrSchedule(LR, MIN, 100, 1100);

    /** nanoGPT train.py get_lr(it), transcribed. */
    private static double nanoGpt(long it, double lr, double minLr, int warmup, int decayEnd) {
        if (it < warmup) {
            return lr * (it + 1) / (warmup + 1);
        }
        if (it > decayEnd) {
            return minLr;
        }
        double decayRatio = (double) (it - warmup) / (decayEnd - warmup);
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * decayRatio));
        return minLr + coeff * (lr - minLr);
    }

    @Test
    void warmupIsLinearFromLrOverWarmupPlusOne() {
        assertThat(schedule.at(0)).isCloseTo(LR / 101, within(1e-18));
        assertThat(schedule.at(49)).isCloseTo(LR * 50 / 101, within(1e-18));
        assertThat(schedule.at(99)).isCloseTo(LR * 100 / 101, within(1e-18));
        for (int s = 1; s < 100; s++) {
            assertThat(schedule.at(s) - schedule.at(s - 1)).as("increment at %d", s).isCloseTo(LR / 101, within(1e-15));
        }
    }

    @Test
    void peakCosineMidpointAndFloor() {
        assertThat(schedule.at(100)).as("peak right after warmup").isEqualTo(LR);
        assertThat(schedule.at(600)).as("cosine midpoint").isCloseTo((LR + MIN) / 2, within(1e-15));
        // a quarter of the way: min + (lr - min) * (1 + cos(pi/4)) / 2
        assertThat(schedule.at(350)).isCloseTo(MIN + (LR - MIN) * (1 + Math.sqrt(0.5)) / 2, within(1e-15));
        assertThat(schedule.at(1100)).as("decay end").isCloseTo(MIN, within(1e-18));
        for (long s : new long[] {1101, 2000, 1_000_000}) {
            assertThat(schedule.at(s)).isEqualTo(MIN);
        }
    }

    @Test
    void decaysMonotonicallyAfterWarmup() {
        for (int s = 101; s <= 1200; s++) {
            assertThat(schedule.at(s)).as("step %d", s).isLessThanOrEqualTo(schedule.at(s - 1)).isGreaterThanOrEqualTo(MIN);
        }
    }

    @Test
    void matchesNanoGptEverywhere() {
        int[][] shapes = {{100, 1100}, {0, 50}, {10, 11}, {2000, 600_000}};
        for (int[] sh : shapes) {
            LrSchedule s = new LrSchedule(1e-3, 1e-4, sh[0], sh[1]);
            for (long it = 0; it <= sh[1] + 20; it += Math.max(1, sh[1] / 5000)) {
                assertThat(s.at(it)).as("warmup %d, decay end %d, step %d", sh[0], sh[1], it)
                        .isCloseTo(nanoGpt(it, 1e-3, 1e-4, sh[0], sh[1]), within(1e-15));
            }
        }
    }

    @Test
    void degenerateShapes() {
        // no warmup: the first step already runs at the peak
        assertThat(new LrSchedule(1e-3, 1e-4, 0, 10).at(0)).isEqualTo(1e-3);
        // decay ending where warmup ends (nanoGPT would divide by zero): straight to min_lr
        LrSchedule flat = new LrSchedule(1e-3, 1e-4, 10, 10);
        assertThat(flat.at(9)).isCloseTo(1e-3 * 10 / 11, within(1e-18));
        assertThat(flat.at(10)).isCloseTo(1e-4, within(1e-18));
        assertThat(flat.at(11)).isEqualTo(1e-4);
    }
}
