package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.model.dit.DitBatch;
import java.util.Arrays;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/** Training rows: q_sample's formula, a row independent of how the batch is cut, labels dropped at the given rate. */
class NoisingTest {
    static final int PER = 2 * 3 * 3;

    static ImageBatch images(int first, int count) {
        float[] px = new float[count * PER];
        int[] labels = new int[count];
        for (int r = 0; r < count; r++) {
            labels[r] = (first + r) % 4;
            for (int j = 0; j < PER; j++) {
                px[r * PER + j] = (float) Math.sin(0.3 * (first + r) + j);
            }
        }
        return new ImageBatch(px, labels, count, 2, 3, 3);
    }

    @Test
    void rowsAreQSampleKeyedBySeedStepAndGlobalRow() {
        DiffusionConfig cfg = new DiffusionConfig(200, "cosine", Prediction.EPSILON, 0.25, 20, 0, 2, 0, 0.99);
        Noising noising = new Noising(cfg, 5, 4);
        DitBatch all = noising.rows(images(0, 8), 3, 0);
        DitBatch tail = noising.rows(images(5, 3), 3, 5);
        assertThat(tail.t()).containsExactly(Arrays.copyOfRange(all.t(), 5, 8));
        assertThat(tail.labels()).containsExactly(Arrays.copyOfRange(all.labels(), 5, 8));
        assertThat(tail.noised()).containsExactly(Arrays.copyOfRange(all.noised(), 5 * PER, 8 * PER));
        assertThat(tail.target()).containsExactly(Arrays.copyOfRange(all.target(), 5 * PER, 8 * PER));
        assertThat(noising.rows(images(0, 8), 4, 0).t()).isNotEqualTo(all.t()); // another step, other draws
        float[] x0 = images(0, 8).pixels();
        for (int r = 0; r < 8; r++) {
            assertThat(all.t()[r]).isBetween(0L, 199L);
            double ab = noising.schedule().alphaBar((int) all.t()[r]);
            for (int j = 0; j < PER; j++) {
                int i = r * PER + j;
                double want = Math.sqrt(ab) * x0[i] + Math.sqrt(1 - ab) * all.target()[i]; // target = eps
                assertThat((double) all.noised()[i]).isCloseTo(want, Offset.offset(1e-5));
            }
        }
    }

    @Test
    void labelsAreDroppedToTheNullClassAtTheGivenRate() {
        DiffusionConfig cfg = new DiffusionConfig(100, "linear", Prediction.V, 0.25, 10, 0, 2, 0, 0.99);
        Noising noising = new Noising(cfg, 1, 4);
        int dropped = 0;
        int n = 0;
        for (int step = 0; step < 50; step++) {
            DitBatch b = noising.rows(images(0, 40), step, 0);
            for (int r = 0; r < 40; r++) {
                n++;
                if (b.labels()[r] == 4) {
                    dropped++;
                } else {
                    assertThat(b.labels()[r]).isEqualTo(r % 4);
                }
            }
        }
        assertThat((double) dropped / n).isCloseTo(0.25, Offset.offset(0.03));
    }
}
