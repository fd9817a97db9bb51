package io.megalith.core.train.task;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.data.Batch;
import io.megalith.core.family.bert.MlmRows;
import io.megalith.core.model.bert.MlmBatch;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Pre-training rows: [CLS] + window, or NSP pairs [CLS] A [SEP] B [SEP] with the right segments and labels. */
class MlmRowsTest {
    static final int T = 10;
    static final long SPECIALS = 20; // PAD 20, CLS 21, SEP 22, MASK 23

    static Batch windows(int count, int offset) {
        long[] x = new long[count * T];
        for (int i = 0; i < x.length; i++) {
            x[i] = (i + offset) % 20;
        }
        return new Batch(x, x.clone(), count, T);
    }

    @Test
    void withoutNspRowsAreClsAndTheWindow() {
        MlmBatch b = MlmRows.of(windows(3, 0), null, SPECIALS, 24, 5, 0);
        assertThat(b.seqLen()).isEqualTo(T + 1);
        assertThat(b.segments()).isNull();
        assertThat(b.nspLabels()).isNull();
        for (int i = 0; i < 3; i++) {
            assertThat(b.inputs()[i * (T + 1)]).isEqualTo(21);
            for (int j = 1; j <= T; j++) {
                long original = b.targets()[i * (T + 1) + j] >= 0 ? b.targets()[i * (T + 1) + j] : b.inputs()[i * (T + 1) + j];
                assertThat(original).isEqualTo((i * T + j - 1) % 20);
            }
        }
    }

    @Test
    void nspPairsAreAThenTheContinuationOrAnotherWindow() {
        int n = 40;
        Batch rows = windows(n, 0);
        Batch others = windows(n, 7);
        MlmBatch b = MlmRows.of(rows, others, SPECIALS, 24, 9, 0);
        int t = T + 1;
        int h = (T - 2) / 2;
        int next = 0;
        for (int i = 0; i < n; i++) {
            long[] row = new long[t];
            for (int j = 0; j < t; j++) { // undo the masking
                long tg = b.targets()[i * t + j];
                row[j] = tg >= 0 ? tg : b.inputs()[i * t + j];
            }
            assertThat(row[0]).isEqualTo(21);
            assertThat(row[1 + h]).isEqualTo(22);
            assertThat(row[t - 1]).isEqualTo(22);
            long[] seg = Arrays.copyOfRange(b.segments(), i * t, i * t + t);
            assertThat(Arrays.copyOfRange(seg, 0, 2 + h)).containsOnly(0L);
            assertThat(Arrays.copyOfRange(seg, 2 + h, t)).containsOnly(1L);
            Batch source = b.nspLabels()[i] == 0 ? rows : others;
            for (int j = 0; j < T - 2 - h; j++) {
                assertThat(row[2 + h + j]).isEqualTo(source.inputs()[i * T + h + j]);
            }
            next += b.nspLabels()[i] == 0 ? 1 : 0;
        }
        assertThat(next).as("about half are continuations").isBetween(10, 30);
        // another rank's cut of the same step: the same rows
        long[] mine = Arrays.copyOfRange(rows.inputs(), 30 * T, 40 * T);
        long[] theirs = Arrays.copyOfRange(others.inputs(), 30 * T, 40 * T);
        MlmBatch tail = MlmRows.of(new Batch(mine, mine, 10, T), new Batch(theirs, theirs, 10, T), SPECIALS, 24, 9, 30);
        assertThat(tail.inputs()).isEqualTo(Arrays.copyOfRange(b.inputs(), 30 * t, 40 * t));
        assertThat(tail.nspLabels()).isEqualTo(Arrays.copyOfRange(b.nspLabels(), 30, 40));
    }
}
