package io.megalith.core.data.shards;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A text tokenized in one piece and the same tokens prepared into shards give the same samples. */
class ShardedTextDataTest {
    private static final Configuration CONF = new Configuration();
    private static final int T = 32;

    @TempDir
    Path tmp;

    /** Pseudo-text of many lines, with some characters that need two UTF-16 units. */
    static String text(int chars, long seed) {
        Random rnd = new Random(seed);
        String[] words = {"the", "king", "river", "of", "and", "morning", "ünïcode", "\uD83D\uDE00", "to", "a"};
        StringBuilder sb = new StringBuilder();
        while (sb.length() < chars) {
            sb.append(words[rnd.nextInt(words.length)]).append(rnd.nextInt(8) == 0 ? ".\n" : " ");
        }
        return sb.append('\n').toString();
    }

    /** Cuts {@code tokens} at the given positions (empty pieces allowed). */
    static List<int[]> cut(int[] tokens, int... at) {
        List<int[]> pieces = new ArrayList<>();
        int from = 0;
        for (int to : at) {
            pieces.add(Arrays.copyOfRange(tokens, from, to));
            from = to;
        }
        pieces.add(Arrays.copyOfRange(tokens, from, tokens.length));
        return pieces;
    }

    @Test
    void shardedSamplesEqualInMemorySamplesForManySteps() throws Exception {
        String text = text(50_000, 1);
        CharTokenizer tok = CharTokenizer.fit(text);
        int[] tokens = tok.encode(text);
        int n = tokens.length;
        // uneven shards, one of them empty, boundaries that windows must straddle
        String dir = ShardSetWriter.write(tmp.resolve("prepared").toString(), CONF, tok,
                cut(tokens, 1, n / 3, n / 3, n / 2 + 7, n - 40), "fp", JsonNodeFactory.instance.objectNode());

        TextData whole = new TextData(tok, tokens, 0.1, T, 42);
        try (ShardedTextData sharded = ShardedTextData.open(dir, CONF, 0.1, T, 42)) {
            assertThat(sharded.shards().index().shards()).hasSize(5); // the empty piece was dropped
            assertThat(sharded.shards().index().dtype()).isEqualTo("uint16");
            assertThat(sharded.trainTokens()).isEqualTo(whole.trainTokens());
            assertThat(sharded.tokenizer().vocabSize()).isEqualTo(tok.vocabSize());
            for (long step = 0; step < 400; step++) {
                int first = (int) (step % 5);
                int count = 1 + (int) (step % 7);
                Batch a = whole.train(step, first, count);
                Batch b = sharded.train(step, first, count);
                assertThat(b.inputs()).as("step %d", step).containsExactly(a.inputs());
                assertThat(b.targets()).as("step %d", step).containsExactly(a.targets());
            }
            for (int i = 0; i < 100; i++) {
                Batch a = whole.validation(i, 6);
                Batch b = sharded.validation(i, 6);
                assertThat(b.inputs()).containsExactly(a.inputs());
                assertThat(b.targets()).containsExactly(a.targets());
            }
            // a different seed gives different samples, so the equality above is not vacuous
            assertThat(new TextData(tok, tokens, 0.1, T, 43).train(0, 0, 4).inputs())
                    .isNotEqualTo(sharded.train(0, 0, 4).inputs());
        }
    }

    @Test
    void randomAccessAcrossShardBoundariesReturnsTheStream() throws Exception {
        String text = text(5_000, 2);
        CharTokenizer tok = CharTokenizer.fit(text);
        int[] tokens = tok.encode(text);
        int n = tokens.length;
        String dir = ShardSetWriter.write(tmp.resolve("p").toString(), CONF, tok, cut(tokens, 100, 100, 101, 2000),
                "fp", JsonNodeFactory.instance.objectNode());
        TokenShards shards = TokenShards.open(dir, CONF);
        assertThat(shards.size()).isEqualTo(n);
        for (int i = 0; i < n; i++) {
            assertThat(shards.token(i)).isEqualTo(tokens[i]);
        }
        for (int from : new int[] {0, 95, 99, 100, 1990, n - 300}) {
            int[] dst = new int[300];
            shards.read(from, dst);
            assertThat(dst).containsExactly(Arrays.copyOfRange(tokens, from, from + 300));
        }
        int[] all = new int[n];
        shards.read(0, all);
        assertThat(all).containsExactly(tokens);
    }

    @Test
    void vocabulariesBeyondSixteenBitsAreStoredAsInt32() throws Exception {
        int[] alphabet = new int[70_000];
        for (int i = 0; i < alphabet.length; i++) {
            alphabet[i] = 0x10000 + i; // supplementary code points: no surrogates among them
        }
        CharTokenizer tok = CharTokenizer.ofAlphabet(new String(alphabet, 0, alphabet.length));
        int[] tokens = new int[1000];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 7919) % 70_000; // includes ids above 65535
        }
        String dir = ShardSetWriter.write(tmp.resolve("wide").toString(), CONF, tok, cut(tokens, 333, 700), "fp",
                JsonNodeFactory.instance.objectNode());
        TokenShards shards = TokenShards.open(dir, CONF);
        assertThat(shards.index().dtype()).isEqualTo("int32");
        assertThat(shards.index().shards().get(0).bytes()).isEqualTo(333 * 4);
        int[] back = new int[tokens.length];
        shards.read(0, back);
        assertThat(back).containsExactly(tokens);
        assertThat(Arrays.stream(back).max().orElseThrow()).isGreaterThan(65_535);
    }
}
