package io.megalith.core.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.data.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AdditionDataTest {
    private final AdditionData data = new AdditionData(2, 0.1, 1337);

    @Test
    void formatAndAnswerAreZeroPadded() {
        assertThat(data.format(7, 85)).isEqualTo("07+85=");
        assertThat(data.answer(7, 85)).isEqualTo("092");
        assertThat(data.format(99, 99) + data.answer(99, 99)).isEqualTo("99+99=198");
        assertThat(data.format(0, 0) + data.answer(0, 0)).isEqualTo("00+00=000");
        assertThat(data.promptLength()).isEqualTo(6);
        assertThat(data.answerLength()).isEqualTo(3);
        assertThat(data.seqLen()).isEqualTo(8);
    }

    @Test
    void rowsAreTheProblemShiftedByOneWithOnlyTheAnswerScored() {
        Tokenizer tok = data.tokenizer();
        int t = data.seqLen();
        for (long step = 0; step < 20; step++) {
            Batch b = data.train(step, 0, 16);
            for (int r = 0; r < b.size(); r++) {
                long[] x = Arrays.copyOfRange(b.inputs(), r * t, (r + 1) * t);
                long[] y = Arrays.copyOfRange(b.targets(), r * t, (r + 1) * t);
                String text = decode(tok, x);
                assertThat(text).matches("\\d\\d\\+\\d\\d=\\d\\d");
                long a = Long.parseLong(text.substring(0, 2));
                long c = Long.parseLong(text.substring(3, 5));
                String full = data.format(a, c) + data.answer(a, c);
                assertThat(text).isEqualTo(full.substring(0, t));
                int[] fullIds = tok.encode(full);
                for (int j = 0; j < t; j++) {
                    if (j + 1 < data.promptLength()) {
                        assertThat(y[j]).as("target of prompt position %d", j).isEqualTo(-1);
                    } else {
                        assertThat(y[j]).as("target of position %d", j).isEqualTo(fullIds[j + 1]);
                    }
                }
                assertThat(Arrays.stream(y).filter(v -> v >= 0).count()).isEqualTo(data.answerLength());
            }
            assertThat(b.scored()).isEqualTo(16L * data.answerLength());
        }
    }

    @Test
    void heldOutPairsNeverAppearInTrainingBatches() {
        Set<Long> seen = new HashSet<>();
        int t = data.seqLen();
        for (long step = 0; step < 500; step++) {
            Batch b = data.train(step, 0, 64);
            for (int r = 0; r < b.size(); r++) {
                long[] ab = pair(b.inputs(), r, t);
                assertThat(data.isHeldOut(ab[0], ab[1])).as("%d+%d in training step %d", ab[0], ab[1], step).isFalse();
                seen.add(ab[0] * 100 + ab[1]);
            }
        }
        // 32,000 draws cover nearly all 9,000 training pairs: the filter does not just return a few pairs
        assertThat(seen.size()).isGreaterThan(8500);
        // validation and exact-match pairs are held-out ones only
        for (int i = 0; i < 50; i++) {
            Batch v = data.validation(i, 16);
            for (int r = 0; r < v.size(); r++) {
                long[] ab = pair(v.inputs(), r, t);
                assertThat(data.isHeldOut(ab[0], ab[1])).isTrue();
            }
            long[] ab = data.heldOutPair(i);
            assertThat(data.isHeldOut(ab[0], ab[1])).isTrue();
        }
    }

    @Test
    void heldOutFractionIsNearTheConfiguredValue() {
        for (double fraction : new double[] {0.1, 0.3}) {
            AdditionData d = new AdditionData(2, fraction, 99);
            int held = 0;
            for (long a = 0; a < 100; a++) {
                for (long b = 0; b < 100; b++) {
                    held += d.isHeldOut(a, b) ? 1 : 0;
                }
            }
            assertThat(held / 10_000.0).isCloseTo(fraction, within(0.02));
        }
        // the held-out set depends on the seed
        AdditionData other = new AdditionData(2, 0.1, 1338);
        int differ = 0;
        for (long a = 0; a < 100; a++) {
            for (long b = 0; b < 100; b++) {
                differ += data.isHeldOut(a, b) != other.isHeldOut(a, b) ? 1 : 0;
            }
        }
        assertThat(differ).isGreaterThan(1000);
    }

    @Test
    void aSampleDependsOnlyOnSeedStepAndIndex() {
        for (long step : new long[] {0, 3, 777}) {
            Batch all = data.train(step, 0, 5);
            Batch tail = new AdditionData(2, 0.1, 1337).train(step, 3, 2);
            int t = data.seqLen();
            assertThat(tail.inputs()).containsExactly(Arrays.copyOfRange(all.inputs(), 3 * t, 5 * t));
            assertThat(tail.targets()).containsExactly(Arrays.copyOfRange(all.targets(), 3 * t, 5 * t));
        }
        assertThat(data.train(1, 0, 8).inputs()).isNotEqualTo(data.train(2, 0, 8).inputs());
        assertThat(new AdditionData(2, 0.1, 1).train(1, 0, 8).inputs()).isNotEqualTo(data.train(1, 0, 8).inputs());
        assertThat(data.validation(3, 8)).usingRecursiveComparison().isEqualTo(data.validation(3, 8));
    }

    @Test
    void sequenceFitsTheBlockSizeTheConfigRequires() {
        for (int digits = 1; digits <= 4; digits++) {
            AdditionData d = new AdditionData(digits, 0.1, 1);
            assertThat(d.seqLen()).isEqualTo(3 * digits + 2);
            assertThat(d.train(0, 0, 1).seqLen()).isEqualTo(3 * digits + 2);
            String ok = "model.block_size=" + (3 * digits + 2);
            assertThat(ConfigLoader.fromYaml("", List.of("data.digits=" + digits, ok), "test").model().blockSize())
                    .isEqualTo(d.seqLen());
            List<String> tooSmall = List.of("data.digits=" + digits, "model.block_size=" + (3 * digits + 1));
            assertThatThrownBy(() -> ConfigLoader.fromYaml("", tooSmall, "test"))
                    .isInstanceOf(ConfigException.class).hasMessageContaining("model.block_size");
        }
    }

    private long[] pair(long[] inputs, int row, int t) {
        String text = decode(data.tokenizer(), Arrays.copyOfRange(inputs, row * t, (row + 1) * t));
        return new long[] {Long.parseLong(text.substring(0, 2)), Long.parseLong(text.substring(3, 5))};
    }

    private static String decode(Tokenizer tok, long[] ids) {
        return tok.decode(Arrays.stream(ids).mapToInt(Math::toIntExact).toArray());
    }
}
