package io.megalith.core.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.model.bert.SentencePair;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Labeled texts: label ids, [CLS] + tokens + padding at a fixed length, the held-out split, row sampling; sentence
 * pairs as [CLS] A [SEP] B [SEP] with token types, truncated longest-first.
 */
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
            long[] row = Arrays.copyOfRange(b.ids(), i * 9, i * 9 + 9);
            assertThat(row[0]).isEqualTo(CLS);
            if (b.labels()[i] == 0) { // "xyz x": 5 tokens, then 3 pads
                int[] want = TOK.encode("xyz x");
                for (int j = 0; j < 5; j++) {
                    assertThat(row[1 + j]).isEqualTo(want[j]);
                }
                assertThat(Arrays.copyOfRange(row, 6, 9)).containsOnly(PAD);
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
        assertThat(Arrays.copyOfRange(whole.ids(), 4 * 9, 6 * 9)).isEqualTo(tail.ids());
        assertThat(Arrays.copyOfRange(whole.labels(), 4, 6)).isEqualTo(tail.labels());
        assertThat(a.train(4, 0, 6).labels()).as("another step, other rows").isNotEqualTo(whole.labels());
        Set<Integer> sizes = new HashSet<>(List.of(a.heldOutSize(), c.heldOutSize()));
        assertThat(sizes.size() > 1 || !a.heldOut(0, 100).labels().equals(c.heldOut(0, 100).labels())).isTrue();
    }

    @Test
    void majorityBaselineAndUnknownCharactersAndErrors() {
        ClassificationData d = ClassificationData.tsv(tsv(60), TOK, 8, 0.3, 2);
        long pos = Arrays.stream(d.heldOut(0, 100).labels()).filter(l -> l == 1).count();
        assertThat(d.majorityBaseline()).isEqualTo((double) pos / d.heldOutSize());
        // characters outside the base's vocabulary are left out
        long[] row = ClassificationData.encode(TOK, "a?b", PAD, 4);
        assertThat(row).containsExactly(CLS, TOK.encode("a")[0], TOK.encode("b")[0], PAD, PAD);
        assertThatThrownBy(() -> ClassificationData.tsv("pos no tab here\n", TOK, 8, 0.2, 1))
                .hasMessageContaining("line 1").hasMessageContaining("label<TAB>text");
        assertThatThrownBy(() -> ClassificationData.tsv("pos\tabc\n", TOK, 8, 0.2, 1))
                .hasMessageContaining("need both");
    }

    static final long SEP = PAD + 2;

    static long id(String c) {
        return TOK.encode(c)[0];
    }

    @Test
    void pairsAreClsASepBSepWithTokenTypesThenPadding() {
        ClassificationData d = ClassificationData.tsv("same\tab\tab\ndiff\tab\txy\n".repeat(20), TOK, 8, 0.25, 1);
        assertThat(d.pairs()).isTrue();
        assertThat(d.labels()).containsExactly("diff", "same");
        ClassificationData.Batch b = d.train(0, 0, 6);
        assertThat(b.segments()).hasSize(b.ids().length);
        for (int i = 0; i < b.batch(); i++) {
            long[] row = Arrays.copyOfRange(b.ids(), i * 9, i * 9 + 9);
            long[] types = Arrays.copyOfRange(b.segments(), i * 9, i * 9 + 9);
            String second = b.labels()[i] == 1 ? "ab" : "xy";
            assertThat(row).containsExactly(CLS, id("a"), id("b"), SEP, id(second.substring(0, 1)),
                    id(second.substring(1)), SEP, PAD, PAD);
            // [CLS] A [SEP] type 0, B [SEP] type 1, padding type 0 (and masked: it is [PAD])
            assertThat(types).containsExactly(0, 0, 0, 0, 1, 1, 1, 0, 0);
        }
        // one-segment data carries no token types
        assertThat(ClassificationData.tsv(tsv(40), TOK, 8, 0.25, 1).train(0, 0, 2).segments()).isNull();
        assertThat(ClassificationData.texts("l\tab\txy\n", false)).isEqualTo("ab\nxy\n");
    }

    @Test
    void longPairsAreTruncatedLongestFirstWithinTheBlock() {
        // block 8: 9 positions, 6 tokens besides [CLS] [SEP] [SEP]; A 3 and B 5 -> B gives 2 (3 + 3)
        long[][] r = ClassificationData.encodePair(TOK, "abc", "defgh", PAD, 8);
        assertThat(r[0]).containsExactly(CLS, id("a"), id("b"), id("c"), SEP, id("d"), id("e"), id("f"), SEP);
        assertThat(r[1]).containsExactly(0, 0, 0, 0, 0, 1, 1, 1, 1);
        // A 7, B 1: only A shortens (to 5), the short B is kept whole
        r = ClassificationData.encodePair(TOK, "abcdefg", "x", PAD, 8);
        assertThat(r[0]).containsExactly(CLS, id("a"), id("b"), id("c"), id("d"), id("e"), SEP, id("x"), SEP);
        // Hugging Face's longest_first: from the longer one at a time, ties from B
        assertThat(SentencePair.longestFirst(5, 4, 6)).containsExactly(3, 3);
        assertThat(SentencePair.longestFirst(4, 4, 5)).containsExactly(3, 2);
        assertThat(SentencePair.longestFirst(2, 9, 6)).containsExactly(2, 4);
        assertThat(SentencePair.longestFirst(2, 1, 6)).containsExactly(2, 1);
        // empty texts still give the specials
        r = ClassificationData.encodePair(TOK, "", "", PAD, 4);
        assertThat(r[0]).containsExactly(CLS, SEP, SEP, PAD, PAD);
        assertThat(r[1]).containsExactly(0, 0, 1, 0, 0);
    }

    @Test
    void aFileIsOneOrTwoSegmentsThroughout() {
        assertThatThrownBy(() -> ClassificationData.tsv("a\tab\tab\n\nb\tab\tx\nb\txy\n", TOK, 8, 0.2, 1))
                .hasMessageContaining("line 4").hasMessageContaining("line 1").hasMessageContaining("throughout");
        assertThatThrownBy(() -> ClassificationData.tsv("a\tab\nb\tab\tx\n", TOK, 8, 0.2, 1))
                .hasMessageContaining("line 2");
        assertThatThrownBy(() -> ClassificationData.tsv("a\tab\tx\ty\n", TOK, 8, 0.2, 1))
                .hasMessageContaining("line 1").hasMessageContaining("label<TAB>text_a<TAB>text_b");
        assertThatThrownBy(() -> ClassificationData.tsv("a\tab\tx\n".repeat(9), TOK, 2, 0.2, 1))
                .hasMessageContaining("model.block_size 2");
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
