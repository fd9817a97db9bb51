package io.megalith.core.data.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Character-level tokenizer in the style of nanoGPT's {@code shakespeare_char/prepare.py}: one id
 * per distinct Unicode code point. {@link #fit} sorts the characters of a training text;
 * {@link #ofAlphabet} keeps a given order (useful for synthetic tasks). Saved as
 * {@code {"type":"megalith-char","chars":"..."}}.
 */
public final class CharTokenizer implements Tokenizer {
    /** Value of the {@code type} field of the saved JSON. */
    public static final String TYPE = "megalith-char";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** id -> code point. */
    private final int[] codePoints;
    /** code point -> id. */
    private final Map<Integer, Integer> ids;

    private CharTokenizer(int[] codePoints) {
        if (codePoints.length == 0) {
            throw new IllegalArgumentException("empty alphabet");
        }
        this.codePoints = codePoints;
        this.ids = new HashMap<>(codePoints.length * 2);
        for (int i = 0; i < codePoints.length; i++) {
            if (ids.put(codePoints[i], i) != null) {
                throw new IllegalArgumentException("duplicate character " + describe(codePoints[i]));
            }
        }
    }

    /** The vocabulary is the sorted set of distinct code points of {@code text}. */
    public static CharTokenizer fit(String text) {
        return new CharTokenizer(text.codePoints().distinct().sorted().toArray());
    }

    /** The vocabulary is exactly the code points of {@code chars}, in this order (no duplicates). */
    public static CharTokenizer ofAlphabet(String chars) {
        return new CharTokenizer(chars.codePoints().toArray());
    }

    /** Reads a file written by {@link #save}. */
    public static CharTokenizer load(Path file) throws IOException {
        return fromJson(JSON.readTree(file.toFile()), file);
    }

    static CharTokenizer fromJson(JsonNode root, Path source) throws IOException {
        if (!TYPE.equals(root.path("type").asText()) || !root.path("chars").isTextual()) {
            throw new IOException("not a " + TYPE + " tokenizer file: " + source);
        }
        return ofAlphabet(root.get("chars").asText());
    }

    /** The vocabulary as a string, id order. */
    public String alphabet() {
        return new String(codePoints, 0, codePoints.length);
    }

    @Override
    public int vocabSize() {
        return codePoints.length;
    }

    /** @throws IllegalArgumentException naming the first character outside the vocabulary */
    @Override
    public int[] encode(String text) {
        int[] out = new int[text.codePointCount(0, text.length())];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            Integer id = ids.get(cp);
            if (id == null) {
                throw new IllegalArgumentException(
                        "unknown character " + describe(cp) + " at index " + i + " (char offset)");
            }
            out[n++] = id;
            i += Character.charCount(cp);
        }
        return out;
    }

    @Override
    public String decode(int[] tokenIds) {
        StringBuilder sb = new StringBuilder(tokenIds.length);
        for (int id : tokenIds) {
            if (id < 0 || id >= codePoints.length) {
                throw new IllegalArgumentException("token id " + id + " outside [0, " + codePoints.length + ")");
            }
            sb.appendCodePoint(codePoints[id]);
        }
        return sb.toString();
    }

    @Override
    public String kind() {
        return "char";
    }

    @Override
    public void save(Path file) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("type", TYPE);
        root.put("chars", alphabet());
        JSON.writeValue(file.toFile(), root);
    }

    private static String describe(int cp) {
        return "'" + new String(Character.toChars(cp)) + "' (" + String.format("U+%04X", cp) + ")";
    }
}
