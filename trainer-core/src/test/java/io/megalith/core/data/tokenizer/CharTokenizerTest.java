package io.megalith.core.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CharTokenizerTest {
    private static final String TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n";

    @Test
    void fitSortsDistinctCharsAndRoundTrips() {
        CharTokenizer t = CharTokenizer.fit(TEXT);
        String sorted = TEXT.chars().distinct().sorted()
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
        assertThat(t.alphabet()).isEqualTo(sorted).startsWith("\n ,.:");
        assertThat(t.vocabSize()).isEqualTo(sorted.length());
        assertThat(t.kind()).isEqualTo("char");

        int[] ids = t.encode("hear me");
        assertThat(ids).hasSize(7);
        assertThat(Arrays.stream(ids).boxed().toList()).allSatisfy(id -> assertThat(id).isBetween(0, t.vocabSize() - 1));
        assertThat(ids[0]).isEqualTo(sorted.indexOf('h'));
        assertThat(t.decode(t.encode(TEXT))).isEqualTo(TEXT);
    }

    @Test
    void ofAlphabetKeepsOrderAndRejectsDuplicates() {
        CharTokenizer t = CharTokenizer.ofAlphabet("0123456789+=");
        assertThat(t.encode("12+3=15")).containsExactly(1, 2, 10, 3, 11, 1, 5);
        assertThat(t.decode(new int[] {11, 0})).isEqualTo("=0");
        assertThatThrownBy(() -> CharTokenizer.ofAlphabet("abca"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'a'");
    }

    @Test
    void codePointsOutsideTheBmpAreOneToken() {
        String text = "a\uD83D\uDE00b\u00e9"; // a, grinning face (surrogate pair), b, e-acute
        CharTokenizer t = CharTokenizer.fit(text);
        assertThat(t.vocabSize()).isEqualTo(4);
        assertThat(t.encode(text)).hasSize(4);
        assertThat(t.decode(t.encode(text))).isEqualTo(text);
    }

    @Test
    void unknownCharacterIsNamedWithItsPosition() {
        CharTokenizer t = CharTokenizer.fit("abc ");
        assertThatThrownBy(() -> t.encode("cab zap"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'z'")
                .hasMessageContaining("index 4");
        assertThatThrownBy(() -> t.decode(new int[] {4})).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void saveAndLoadRoundTrip(@TempDir Path dir) throws Exception {
        CharTokenizer t = CharTokenizer.fit(TEXT + "\u00e9\"\\");
        Path file = dir.resolve("chars.json");
        t.save(file);
        assertThat(Files.readString(file)).startsWith("{\"type\":\"megalith-char\",\"chars\":\"");

        CharTokenizer back = CharTokenizer.load(file);
        assertThat(back.alphabet()).isEqualTo(t.alphabet());
        assertThat(back.encode(TEXT)).containsExactly(t.encode(TEXT));
    }
}
