package io.megalith.core.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.data.tokenizer.CharTokenizer;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Labeled texts: label ids, [CLS] + tokens + padding at a fixed length, the held-out split, row sampling. */
class ClassificationDataTest {
    static final CharTokenizer TOK = CharTokenizer.fit("abcdefgh xyz");
    static final long PAD = TOK.vocabSize();
    static final long CLS = PAD + 1;

    static String tsv(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(i % 3 == 0 ? "neg" : "pos").append('\t').append(i % 3 == 0 ? "xyz x" : "abc defgh abc").append('\n');
        }
        return sb.toString();
    }

    @Test
    void tsvRowsAreClsTokensThenPaddingWithSortedLabels() {
        ClassificationData d = ClassificationData.tsv(tsv(40), TOK, 8, 0.25, 1);
        assertThat(d.labels()).containsExactly("neg", "pos");
        assertThat(d.seqLen()).isEqualTo(9);
        assertThat(d.trainSize() + d.heldOutSize()).isEqualTo(40);
        assertThat(d.heldOutSize()).isBetween(3, 20);
        ClassificationData.Batch b = d.heldOut(0, 100);
        assertThat(b.batch()).isEqualTo(d.heldOutSize());
        for (int i = 0; i < b.batch(); i++) {
            long[] row = java.util.Arrays.copyOfRange(b.ids(), i * 9, i * 9 + 9);
            assertThat(row[0]).isEqualTo(CLS);
            if (b.labels()[i] == 0) { // "xyz x": 5 tokens, then 3 pads
                int[] want = TOK.encode("xyz x");
                for (int j = 0; j < 5; j++) {
                    assertThat(row[1 + j]).isEqualTo(want[j]);
                }
                assertThat(java.util.Arrays.copyOfRange(row, 6, 9)).containsOnly(PAD);
            } else { // "abc defgh abc" truncated to 8 tokens: no padding
                assertThat(row).doesNotContain(PAD);
                assertThat(row[8]).isEqualTo(TOK.encode("g")[0]); // a b c _ d e f g
            }
        }
    }

    @Test
    void splitIsSeededAndTrainingRowsDependOnlyOnStepAndRow() {
        ClassificationData a = ClassificationData.tsv(tsv(60), TOK, 8, 0.2, 7);
        ClassificationData b = ClassificationData.tsv(tsv(60), TOK, 8, 0.2, 7);
        ClassificationData c = ClassificationData.tsv(tsv(60), TOK, 8, 0.2, 8);
        assertThat(a.heldOutSize()).isEqualTo(b.heldOutSize());
        assertThat(a.heldOut(0, 100).labels()).isEqualTo(b.heldOut(0, 100).labels());
        ClassificationData.Batch whole = a.train(3, 0, 6);
        ClassificationData.Batch tail = a.train(3, 4, 2); // another rank's cut of the same step
        assertThat(java.util.Arrays.copyOfRange(whole.ids(), 4 * 9, 6 * 9)).isEqualTo(tail.ids());
        assertThat(java.util.Arrays.copyOfRange(whole.labels(), 4, 6)).isEqualTo(tail.labels());
        assertThat(a.train(4, 0, 6).labels()).as("another step, other rows").isNotEqualTo(whole.labels());
        Set<Integer> sizes = new HashSet<>(List.of(a.heldOutSize(), c.heldOutSize()));
        assertThat(sizes.size() > 1 || !a.heldOut(0, 100).labels().equals(c.heldOut(0, 100).labels())).isTrue();
    }

    @Test
    void majorityBaselineAndUnknownCharactersAndErrors() {
        ClassificationData d = ClassificationData.tsv(tsv(60), TOK, 8, 0.3, 2);
        long pos = java.util.Arrays.stream(d.heldOut(0, 100).labels()).filter(l -> l == 1).count();
        assertThat(d.majorityBaseline()).isEqualTo((double) pos / d.heldOutSize());
        // characters outside the base's vocabulary are left out
        long[] row = ClassificationData.encode(TOK, "a?b", PAD, 4);
        assertThat(row).containsExactly(CLS, TOK.encode("a")[0], TOK.encode("b")[0], PAD, PAD);
        assertThatThrownBy(() -> ClassificationData.tsv("pos no tab here\n", TOK, 8, 0.2, 1))
                .hasMessageContaining("line 1").hasMessageContaining("label<TAB>text");
        assertThatThrownBy(() -> ClassificationData.tsv("pos\tabc\n", TOK, 8, 0.2, 1))
                .hasMessageContaining("need both");
    }

    @Test
    void speakersAreTheMostFrequentAndTheirLinesTheExamples() {
        String play = """
                ALICE:
                abc abc
                abc

                BOB:
                xyz

                ALICE:
                abc d

                CAROL:
                xyz xyz
                zz

                BOB:
                xy
                """;
        ClassificationData d = ClassificationData.speakers(play, 2, TOK, 6, 0.5, 3);
        assertThat(d.labels()).containsExactly("ALICE", "BOB"); // 3 lines, then 2 (CAROL's 2 lose the tie by name)
        assertThat(d.trainSize() + d.heldOutSize()).isEqualTo(5);
        assertThatThrownBy(() -> ClassificationData.speakers("ALICE:\nabc\n", 3, TOK, 6, 0.5, 3))
                .hasMessageContaining("at least 2");
    }
}
