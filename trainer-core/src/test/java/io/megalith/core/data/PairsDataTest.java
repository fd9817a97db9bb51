package io.megalith.core.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.data.tokenizer.CharTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pairs task's batches: only answers and their newline are scored, and ranks' shares make the batch. */
class PairsDataTest {
    private static final CharTokenizer TOK = CharTokenizer.fit("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ: \n");

    private static List<String[]> pairs() {
        List<String[]> out = new ArrayList<>();
        for (String w : List.of("cat", "dog", "river", "night", "king", "queen", "castle", "lord", "good", "morning")) {
            out.add(new String[] {w + ": ", w.toUpperCase()});
        }
        return out;
    }

    @Test
    void onlyTheAnswerAndItsNewlineAreScored() {
        PairsData data = new PairsData(TOK, pairs(), 0.2, 32, 3, "test");
        assertThat(data.heldOutPairs()).hasSize(2);
        assertThat(data.seqLen()).isEqualTo("morning: MORNING\n".length() - 1);
        Batch b = data.train(5, 0, 8);
        int t = b.seqLen();
        for (int r = 0; r < b.size(); r++) {
            String row = TOK.decode(Arrays.stream(Arrays.copyOfRange(b.inputs(), r * t, (r + 1) * t))
                    .mapToInt(x -> (int) x).toArray());
            int colon = row.indexOf(": ");
            String word = row.substring(0, colon);
            StringBuilder scored = new StringBuilder();
            for (int i = 0; i < t; i++) {
                long target = b.targets()[r * t + i];
                if (i + 1 < colon + 2) {
                    assertThat(target).as("prompt position %d of %s", i, word).isEqualTo(-1);
                } else if (target >= 0) {
                    scored.append(TOK.decode(new int[] {(int) target}));
                }
            }
            assertThat(scored.toString()).as("scored targets of row %d", r).isEqualTo(word.toUpperCase() + "\n");
        }
    }

    @Test
    void dataParallelSharesTogetherAreTheWholeBatch() {
        PairsData data = new PairsData(TOK, pairs(), 0.2, 32, 3, "test");
        Batch whole = data.train(7, 0, 6);
        Batch r0 = data.train(7, 0, 3);
        Batch r1 = data.train(7, 3, 3);
        long[] inputs = concat(r0.inputs(), r1.inputs());
        long[] targets = concat(r0.targets(), r1.targets());
        assertThat(inputs).isEqualTo(whole.inputs());
        assertThat(targets).isEqualTo(whole.targets());
        assertThat(data.train(8, 0, 6).inputs()).as("another step, other samples").isNotEqualTo(whole.inputs());
        // held-out pairs are never trained on
        List<String> held = data.heldOutPairs().stream().map(p -> p[0]).toList();
        for (int s = 0; s < 50; s++) {
            Batch b = data.train(s, 0, 8);
            String text = TOK.decode(Arrays.stream(b.inputs()).mapToInt(x -> (int) x).toArray());
            for (String p : held) {
                assertThat(text).doesNotContain(p);
            }
        }
    }

    @Test
    void sequenceParallelPadsToAMultipleOfTp() {
        // the longest pair, "morning: MORNING\n", is 17 tokens: 16 positions
        assertThat(new PairsData(TOK, pairs(), 0.2, 32, 3, "test", 5).seqLen()).isEqualTo(20);
        assertThat(new PairsData(TOK, pairs(), 0.2, 16, 3, "test", 5).seqLen()).as("the block caps it").isEqualTo(16);
    }

    @Test
    void pairsReadFromJsonLinesOrTsvAndRefuseWhatDoesNotFit() throws Exception {
        List<String[]> p = Pairs.parse("x", "{\"prompt\": \"a: \", \"answer\": \"A\"}\n\nb: \tB\n");
        assertThat(p).hasSize(2);
        assertThat(p.get(1)).containsExactly("b: ", "B");
        assertThatThrownBy(() -> Pairs.parse("x", "no tab here")).hasMessageContaining("x line 1");
        assertThatThrownBy(() -> new PairsData(TOK, pairs(), 0.2, 8, 3, "test")).hasMessageContaining("block_size is 8");
    }

    private static long[] concat(long[] a, long[] b) {
        long[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
