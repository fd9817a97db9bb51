package io.megalith.core.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTokenizerTest {
    private static final String TRAIN = EnglishLikeText.generate(6000, 42);
    private static final int VOCAB = 400;
    private static final String NON_ASCII = "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c \uD83D\uDE00\u00a0end";
    private static BpeTokenizer bpe;

    @BeforeAll
    static void train() {
        bpe = BpeTokenizer.train(TRAIN, VOCAB);
    }

    @AfterAll
    static void close() {
        bpe.close();
    }

    @Test
    void vocabularyHasExactlyTheRequestedSize(@TempDir Path dir) throws Exception {
        assertThat(bpe.vocabSize()).isEqualTo(VOCAB);
        assertThat(bpe.kind()).isEqualTo("bpe");
        assertThat(bpe.endOfTextId()).isEqualTo(VOCAB - 1);
        Path file = dir.resolve("tokenizer.json");
        bpe.save(file);
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        assertThat(root.at("/model/type").asText()).isEqualTo("BPE");
        assertThat(root.at("/model/vocab").size()).isEqualTo(VOCAB);
        assertThat(root.at("/pre_tokenizer/type").asText()).isEqualTo("ByteLevel");
        assertThat(root.at("/pre_tokenizer/add_prefix_space").asBoolean()).isFalse();
        // Ids 0..255 are GPT-2's byte tokens: "!" first, "Ġ" (the space byte) at 220.
        assertThat(root.at("/model/vocab/!").asInt()).isEqualTo(0);
        assertThat(root.at("/model/vocab/\u0120").asInt()).isEqualTo(220);
    }

    @Test
    void roundTripsAsciiAndNonAscii() {
        for (String s : new String[] {
            TRAIN.substring(0, 500), "  two  spaces, a tab\tand\r\nCRLF;  trailing  ",
            "don 't , spaces . before punctuation ! <- kept", NON_ASCII, "x", ""
        }) {
            int[] ids = bpe.encode(s);
            assertThat(Arrays.stream(ids).boxed().toList()).allSatisfy(id -> assertThat(id).isBetween(0, VOCAB - 1));
            assertThat(bpe.decode(ids)).as("round trip of %s", s).isEqualTo(s);
        }
        // Unseen multi-byte chars fall back to byte tokens: at least one token per UTF-8 byte of ✓.
        assertThat(bpe.encode("\u2713")).hasSize(3);
    }

    @Test
    void learnedMergesCompress() {
        String text = EnglishLikeText.generate(4000, 99); // same distribution, other sample
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        int tokens = bpe.encode(text).length;
        assertThat((double) bytes / tokens).as("bytes per token").isGreaterThan(2.5);
    }

    @Test
    void frequentWordBecomesOneToken() {
        assertThat(bpe.encode(" the")).hasSize(1);
        assertThat(bpe.encode(" castle")).hasSize(1);
        assertThat(bpe.decode(bpe.encode(" castle"))).isEqualTo(" castle");
    }

    @Test
    void trainingIsDeterministic(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.json");
        Path b = dir.resolve("b.json");
        bpe.save(a);
        try (BpeTokenizer again = BpeTokenizer.train(TRAIN, VOCAB)) {
            again.save(b);
        }
        assertThat(Files.readAllBytes(b)).isEqualTo(Files.readAllBytes(a));
        try (BpeTokenizer other = BpeTokenizer.train(TRAIN.substring(1000), VOCAB)) {
            other.save(b);
        }
        assertThat(Files.readAllBytes(b)).isNotEqualTo(Files.readAllBytes(a));
    }

    @Test
    void savedFileLoadsInPlainHuggingFaceTokenizerWithSameIds(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("tokenizer.json");
        bpe.save(file);
        String text = "The queen was walking by the river, thinking of nothing. " + NON_ASCII;
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(file);
                BpeTokenizer loaded = BpeTokenizer.load(file)) {
            long[] hfIds = hf.encode(text).getIds();
            assertThat(Arrays.stream(hfIds).mapToInt(Math::toIntExact).toArray())
                    .containsExactly(bpe.encode(text))
                    .containsExactly(loaded.encode(text));
            assertThat(loaded.vocabSize()).isEqualTo(VOCAB);
            assertThat(loaded.decode(loaded.encode(text))).isEqualTo(text);
        }
    }

    @Test
    void longTextIsNotTruncatedAndSpecialTokenSurvives() {
        // DJL truncates to 512 tokens by default; our options must switch that off.
        String text = TRAIN + BpeTokenizer.END_OF_TEXT + TRAIN;
        int[] ids = bpe.encode(text);
        assertThat(ids.length).isGreaterThan(1000);
        assertThat(ids).contains(bpe.endOfTextId());
        assertThat(bpe.decode(ids)).isEqualTo(text);
    }

    @Test
    void incrementalTrainerMatchesNaiveRecount() {
        String text = EnglishLikeText.generate(3000, 5) + " aaaaaaa bbb aaaa " + NON_ASCII;
        BpeTrainer.Result fast = BpeTrainer.train(text, 340);
        assertThat(fast.tokens()).hasSize(340);
        assertThat(fast.merges()).isEqualTo(naiveMerges(text, fast.merges().size()));
    }

    /** Reference BPE: recount every pair before each merge; same tie rule (count, left id, right id). */
    private static List<String> naiveMerges(String text, int count) {
        Map<String, Long> freq = new LinkedHashMap<>();
        Matcher m = ByteLevel.SPLIT.matcher(text);
        while (m.find()) {
            freq.merge(m.group(), 1L, Long::sum);
        }
        List<List<Integer>> words = new ArrayList<>();
        for (String w : freq.keySet()) {
            List<Integer> symbols = new ArrayList<>();
            for (byte b : w.getBytes(StandardCharsets.UTF_8)) {
                symbols.add(ByteLevel.byteId(b));
            }
            words.add(symbols);
        }
        List<Long> counts = new ArrayList<>(freq.values());
        List<String> tokens = new ArrayList<>(Arrays.asList(ByteLevel.baseTokens()));
        List<String> merges = new ArrayList<>();
        while (merges.size() < count) {
            Map<List<Integer>, Long> pairs = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                for (int i = 0; i + 1 < words.get(w).size(); i++) {
                    pairs.merge(words.get(w).subList(i, i + 2), counts.get(w), Long::sum);
                }
            }
            List<Integer> best = pairs.entrySet().stream()
                    .min(Comparator.<Map.Entry<List<Integer>, Long>>comparingLong(e -> -e.getValue())
                            .thenComparing(e -> e.getKey().get(0))
                            .thenComparing(e -> e.getKey().get(1)))
                    .orElseThrow().getKey();
            int a = best.get(0);
            int b = best.get(1);
            String merged = tokens.get(a) + tokens.get(b);
            int z = tokens.indexOf(merged);
            if (z < 0) {
                z = tokens.size();
                tokens.add(merged);
            }
            merges.add(tokens.get(a) + " " + tokens.get(b));
            for (List<Integer> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i) == a && w.get(i + 1) == b) {
                        w.set(i, z);
                        w.remove(i + 1);
                    }
                }
            }
        }
        return merges;
    }

    @Test
    void rejectsBadArguments() {
        assertThatThrownBy(() -> BpeTokenizer.train(TRAIN, 256)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bpe.decode(new int[] {VOCAB})).isInstanceOf(IllegalArgumentException.class);
    }
}
