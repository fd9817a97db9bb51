package io.megalith.core.model.bert;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** BERT's corruption statistics over many tokens: 15% selected, of which 80% [MASK], 10% random, 10% kept. */
class MlmMaskingTest {
    private static final int VOCAB = 100;
    private static final long PAD = 0;
    private static final long CLS = 1;
    private static final long SEP = 2;
    private static final long MASK = 3;

    @Test
    void selectionAndReplacementRates() {
        MlmMasking masking = new MlmMasking(VOCAB, MASK, PAD, CLS, SEP);
        Random r = new Random(1);
        int n = 400_000;
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            // a quarter special tokens (never masked), the rest ordinary
            ids[i] = r.nextInt(4) == 0 ? new long[] {PAD, CLS, SEP}[r.nextInt(3)] : 4 + r.nextInt(VOCAB - 4);
        }
        long[][] out = masking.apply(ids, 42);
        long[] inputs = out[0];
        long[] targets = out[1];
        long ordinary = 0;
        long selected = 0;
        long masked = 0;
        long random = 0;
        long kept = 0;
        for (int i = 0; i < n; i++) {
            boolean special = ids[i] <= SEP;
            if (special) {
                assertThat(targets[i]).as("special token %d at %d is never a target", ids[i], i).isEqualTo(-1);
                assertThat(inputs[i]).as("special tokens stay").isEqualTo(ids[i]);
                continue;
            }
            ordinary++;
            if (targets[i] < 0) {
                assertThat(inputs[i]).as("unselected tokens stay").isEqualTo(ids[i]);
                continue;
            }
            assertThat(targets[i]).as("the target is the original token").isEqualTo(ids[i]);
            selected++;
            if (inputs[i] == MASK) {
                masked++;
            } else if (inputs[i] != ids[i]) {
                random++;
                assertThat(inputs[i]).as("random replacements are ordinary tokens").isGreaterThan(MASK).isLessThan(VOCAB);
            } else {
                kept++;
            }
        }
        double pOrdinary = 1.0 / (VOCAB - 4); // a random replacement may draw the original token
        System.out.printf("selected %.4f, mask %.4f, random %.4f, kept %.4f of %d ordinary tokens%n",
                (double) selected / ordinary, (double) masked / selected, (double) random / selected,
                (double) kept / selected, ordinary);
        // ~300k ordinary tokens, ~45k selected: 4 sigma is ~0.0026 for 15%, ~0.0075 for 80%, ~0.0057 for 10%
        assertThat((double) selected / ordinary).isCloseTo(0.15, offset(0.003));
        assertThat((double) masked / selected).isCloseTo(0.80, offset(0.008));
        assertThat((double) random / selected).isCloseTo(0.10 * (1 - pOrdinary), offset(0.006));
        assertThat((double) kept / selected).isCloseTo(0.10 + 0.10 * pOrdinary, offset(0.006));
    }

    @Test
    void deterministicPerKey() {
        MlmMasking masking = new MlmMasking(VOCAB, MASK, PAD, CLS, SEP);
        long[] ids = new Random(2).longs(1000, 4, VOCAB).toArray();
        assertThat(masking.apply(ids, 7)[0]).isEqualTo(masking.apply(ids, 7)[0]);
        assertThat(masking.apply(ids, 7)[1]).isEqualTo(masking.apply(ids, 7)[1]);
        assertThat(masking.apply(ids, 8)[1]).isNotEqualTo(masking.apply(ids, 7)[1]);
    }
}
