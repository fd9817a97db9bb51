package io.megalith.core.data.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;

/** Loads any saved {@link Tokenizer}, telling the kinds apart by the JSON content. */
public final class Tokenizers {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Tokenizers() {}

    /**
     * Reads {@code file}: a {@code {"type":"megalith-char",...}} file gives a {@link CharTokenizer},
     * a Hugging Face tokenizer.json with a BPE model gives a {@link BpeTokenizer}.
     *
     * @throws IOException if the file is neither
     */
    public static Tokenizer load(Path file) throws IOException {
        JsonNode root = JSON.readTree(file.toFile());
        if (root == null || !root.isObject()) {
            throw new IOException("not a tokenizer file (no JSON object): " + file);
        }
        if (CharTokenizer.TYPE.equals(root.path("type").asText())) {
            return CharTokenizer.fromJson(root, file);
        }
        if ("BPE".equals(root.path("model").path("type").asText())) {
            return BpeTokenizer.load(file);
        }
        throw new IOException("unknown tokenizer format (neither megalith-char nor HF BPE): " + file);
    }
}
