package io.megalith.core.data.shards;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;

/**
 * The {@code index.json} of a prepared data set ({@link ShardIndex} for tokens, {@code data.images.ImageIndex}):
 * snake_case JSON, written last, so a directory whose index parses and validates is complete.
 */
public final class IndexJson {
    public static final String FILE_NAME = "index.json";

    private static final JsonMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            // a later format version may add fields; a reader checks the version first
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    private IndexJson() {}

    public static byte[] toJson(Object index) {
        try {
            return JSON.writeValueAsBytes(index);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses an index (not yet validated); the message says what is wrong. */
    public static <T> T parse(byte[] json, Class<T> type) throws IOException {
        T ix;
        try {
            ix = JSON.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw new IOException("unreadable " + FILE_NAME + ": " + e.getOriginalMessage(), e);
        }
        if (ix == null) {
            throw new IOException("empty " + FILE_NAME);
        }
        return ix;
    }

    /** A validation step: {@code problem} is the message if not {@code ok}. */
    public static void require(boolean ok, String problem) throws IOException {
        if (!ok) {
            throw new IOException(FILE_NAME + ": " + problem);
        }
    }
}
