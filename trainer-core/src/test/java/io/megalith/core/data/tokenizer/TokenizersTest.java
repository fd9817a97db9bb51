package io.megalith.core.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizersTest {
    @Test
    void detectsCharTokenizer(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("t.json");
        CharTokenizer.fit("hello world").save(file);
        try (Tokenizer t = Tokenizers.load(file)) {
            assertThat(t).isInstanceOf(CharTokenizer.class);
            assertThat(t.kind()).isEqualTo("char");
            assertThat(t.decode(t.encode("world hello"))).isEqualTo("world hello");
        }
    }

    @Test
    void detectsHuggingFaceBpe(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("tokenizer.json");
        String text = EnglishLikeText.generate(3000, 7);
        int[] expected;
        try (BpeTokenizer bpe = BpeTokenizer.train(text, 300)) {
            bpe.save(file);
            expected = bpe.encode("The king and the queen.");
        }
        try (Tokenizer t = Tokenizers.load(file)) {
            assertThat(t).isInstanceOf(BpeTokenizer.class);
            assertThat(t.kind()).isEqualTo("bpe");
            assertThat(t.vocabSize()).isEqualTo(300);
            assertThat(t.encode("The king and the queen.")).containsExactly(expected);
        }
    }

    @Test
    void rejectsOtherJson(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("x.json");
        Files.writeString(file, "{\"type\":\"something-else\"}");
        assertThatThrownBy(() -> Tokenizers.load(file)).isInstanceOf(IOException.class);
    }
}
