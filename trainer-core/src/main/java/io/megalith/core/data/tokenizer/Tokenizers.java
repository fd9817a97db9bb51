package io.megalith.core.data.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
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

    /** {@link #load(Path)} of a file's bytes (e.g. a tokenizer read from HDFS or sent to a Spark executor). */
    public static Tokenizer fromBytes(byte[] file) throws IOException {
        // The loaders (HF's native one in particular) read local files, hence the temporary file.
        Path tmp = Files.createTempFile("megalith-tokenizer", ".json");
        try {
            Files.write(tmp, file);
            return load(tmp);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The bytes {@link Tokenizer#save} writes. */
    public static byte[] toBytes(Tokenizer tokenizer) throws IOException {
        Path tmp = Files.createTempFile("megalith-tokenizer", ".json");
        try {
            tokenizer.save(tmp);
            return Files.readAllBytes(tmp);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
