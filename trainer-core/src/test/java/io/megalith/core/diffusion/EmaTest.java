package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.FloatBuffer;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * The EMA moves by (1 - decay) toward the weights each update, reading them at the parameter's offset; its warm-up
 * schedule.
 */
class EmaTest {
    @Test
    void averagesTowardTheWeights() {
        float[] start = {0.5f, -2f, 3f};
        float[] shadow = start.clone();
        FloatBuffer weights = FloatBuffer.wrap(new float[] {9f, 1.5f, -1f, 4f}); // the parameter at offset 1
        Ema.update(shadow, weights, 1, 0.9);
        Ema.update(shadow, weights, 1, 0.9);
        for (int i = 0; i < start.length; i++) {
            // two steps toward theta: 1 - 0.9^2 of the way
            double theta = weights.get(1 + i);
            assertThat((double) shadow[i]).isCloseTo(start[i] + 0.19 * (theta - start[i]), Offset.offset(1e-5));
        }
    }

    /** Warm-up: min(decay, (1 + n) / (10 + n)) at update n, the configured decay once that is larger. */
    @Test
    void warmUpStartsFastAndEndsAtTheDecay() {
        assertThat(Ema.warmedUp(0.9999, 0)).isEqualTo(0.1);
        assertThat(Ema.warmedUp(0.9999, 90)).isEqualTo(0.91);
        assertThat(Ema.warmedUp(0.999, 8_991)).isEqualTo(0.999);
        assertThat(Ema.warmedUp(0.999, 100_000)).isEqualTo(0.999);
        assertThat(Ema.warmedUp(0.9, 5)).isCloseTo(6.0 / 15, Offset.offset(1e-15));
    }
}
