package io.megalith.core.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code manifest.json} of one checkpoint: what files it holds and how to verify them. Written
 * last, so its presence is what makes a checkpoint directory complete.
 */
record CheckpointManifest(int formatVersion, long step, String createdAt, List<FileEntry> files) {
    static final int FORMAT_VERSION = 1;
    static final String FILE_NAME = "manifest.json";
    static final String KIND_SAFETENSORS = "safetensors";
    static final String KIND_BLOB = "blob";
    static final String SAFETENSORS_SUFFIX = ".safetensors";

    /** File names we create: no separators, no leading dot (reserved for temporaries), no ':' (Hadoop paths). */
    static final Pattern FILE_NAME_PATTERN = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]*");
    private static final Pattern CRC_HEX = Pattern.compile("[0-9a-f]{8}");

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(SerializationFeature.INDENT_OUTPUT)
            // Later format versions may add fields; old readers should still verify what they know.
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    /**
     * One file of the checkpoint.
     *
     * @param kind {@link #KIND_SAFETENSORS} or {@link #KIND_BLOB}
     * @param crc32c CRC32C of the whole file as 8 lower-case hex digits
     */
    record FileEntry(String name, String kind, long size, String crc32c) {}

    byte[] toJson() throws IOException {
        return JSON.writeValueAsBytes(this);
    }

    /** Parses and validates a manifest; the message of the exception says what is wrong. */
    static CheckpointManifest parse(byte[] json, long expectedStep) throws IOException {
        CheckpointManifest m;
        try {
            m = JSON.readValue(json, CheckpointManifest.class);
        } catch (JsonProcessingException e) {
            throw new IOException("not a valid manifest: " + e.getOriginalMessage(), e);
        }
        if (m == null) {
            throw new IOException("empty manifest");
        }
        if (m.formatVersion != FORMAT_VERSION) {
            throw new IOException("unsupported format version " + m.formatVersion);
        }
        if (m.step != expectedStep) {
            throw new IOException("manifest is for step " + m.step + ", directory for step " + expectedStep);
        }
        if (m.files == null) {
            throw new IOException("manifest lists no files");
        }
        Set<String> seen = new HashSet<>();
        for (FileEntry f : m.files) {
            if (f == null || f.name == null || !FILE_NAME_PATTERN.matcher(f.name).matches()
                    || f.name.equals(FILE_NAME) || !seen.add(f.name)) {
                throw new IOException("invalid or duplicate file name in manifest: " + (f == null ? null : f.name));
            }
            boolean tensors = KIND_SAFETENSORS.equals(f.kind);
            if (!tensors && !KIND_BLOB.equals(f.kind)) {
                throw new IOException("unknown kind '" + f.kind + "' of " + f.name);
            }
            if (tensors && !f.name.endsWith(SAFETENSORS_SUFFIX)) {
                throw new IOException("tensor file " + f.name + " does not end in " + SAFETENSORS_SUFFIX);
            }
            if (f.size < 0 || f.crc32c == null || !CRC_HEX.matcher(f.crc32c).matches()) {
                throw new IOException("invalid size or crc32c of " + f.name);
            }
        }
        return m;
    }
}
