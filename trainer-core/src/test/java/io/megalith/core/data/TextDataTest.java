package io.megalith.core.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.data.tokenizer.CharTokenizer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Windows of a token stream whose token at position i is i itself, so every window shows where it was read. */
class TextDataTest {
    private static final int N = 300;
    private static final int T = 16;

    private static TextData data(long seed) {
        int[] tokens = new int[N];
        for (int i = 0; i < N; i++) {
            tokens[i] = i;
        }
        return new TextData(CharTokenizer.ofAlphabet("ab"), tokens, 0.1, T, seed);
    }

    @Test
    void splitsAreTheFirstNinetyPercentAndTheRest() {
        TextData d = data(1);
        assertThat(d.trainTokens()).isEqualTo(270);
        assertThat(d.valTokens()).isEqualTo(30);
        assertThat(d.seqLen()).isEqualTo(T);
    }

    @Test
    void trainWindowsAreContiguousShiftedByOneAndInsideTheTrainSplit() {
        TextData d = data(1);
        long minStart = Long.MAX_VALUE;
        long maxEnd = Long.MIN_VALUE;
        for (long step = 0; step < 300; step++) {
            Batch b = d.train(step, 0, 8);
            assertThat(b.size()).isEqualTo(8);
            assertThat(b.seqLen()).isEqualTo(T);
            for (int r = 0; r < b.size(); r++) {
                long start = b.inputs()[r * T];
                for (int t = 0; t < T; t++) {
                    assertThat(b.inputs()[r * T + t]).isEqualTo(start + t);
                    assertThat(b.targets()[r * T + t]).isEqualTo(start + t + 1);
                }
                minStart = Math.min(minStart, start);
                maxEnd = Math.max(maxEnd, b.targets()[r * T + T - 1]);
            }
        }
        // never past the train split (token 269 is its last), and the whole split is reachable
        assertThat(maxEnd).isEqualTo(269);
        assertThat(minStart).isEqualTo(0);
    }

    @Test
    void validationWindowsStayInTheValidationSplitAndRepeat() {
        TextData d = data(1);
        long minStart = Long.MAX_VALUE;
        long maxEnd = Long.MIN_VALUE;
        for (int i = 0; i < 200; i++) {
            Batch b = d.validation(i, 8);
            assertThat(d.validation(i, 8)).usingRecursiveComparison().isEqualTo(b);
            for (int r = 0; r < b.size(); r++) {
                long start = b.inputs()[r * T];
                for (int t = 0; t < T; t++) {
                    assertThat(b.inputs()[r * T + t]).isEqualTo(start + t);
                    assertThat(b.targets()[r * T + t]).isEqualTo(start + t + 1);
                }
                minStart = Math.min(minStart, start);
                maxEnd = Math.max(maxEnd, b.targets()[r * T + T - 1]);
            }
        }
        assertThat(minStart).isEqualTo(270);
        assertThat(maxEnd).isEqualTo(299);
    }

    @Test
    void aSampleDependsOnlyOnSeedStepAndIndex() {
        TextData d = data(7);
        for (long step : new long[] {0, 1, 5, 1234}) {
            Batch all = d.train(step, 0, 5);
            Batch tail = d.train(step, 3, 2);
            assertThat(tail.inputs()).containsExactly(Arrays.copyOfRange(all.inputs(), 3 * T, 5 * T));
            assertThat(tail.targets()).containsExactly(Arrays.copyOfRange(all.targets(), 3 * T, 5 * T));
            // a fresh instance with the same seed reads the same windows, whatever was asked before
            assertThat(data(7).train(step, 3, 2).inputs()).containsExactly(tail.inputs());
        }
        assertThat(d.train(1, 0, 5).inputs()).isNotEqualTo(d.train(2, 0, 5).inputs());
        assertThat(data(8).train(1, 0, 5).inputs()).isNotEqualTo(d.train(1, 0, 5).inputs());
        assertThat(data(8).validation(0, 5).inputs()).isNotEqualTo(d.validation(0, 5).inputs());
    }

    @Test
    void tooShortATextIsRejected() {
        int[] tokens = new int[100]; // a val split of 10 tokens cannot hold a window of 17
        assertThatThrownBy(() -> new TextData(CharTokenizer.ofAlphabet("a"), tokens, 0.1, T, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("text too short");
    }
}
