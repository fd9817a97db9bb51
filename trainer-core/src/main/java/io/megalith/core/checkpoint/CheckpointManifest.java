package io.megalith.core.checkpoint;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code manifest.json} of one checkpoint: what files it holds and how to verify them. Written
 * last, so its presence is what makes a checkpoint directory complete.
 */
public record CheckpointManifest(int formatVersion, long step, String createdAt, List<FileEntry> files, Layout layout,
        List<TensorEntry> tensors, String stateFile) {
    /** Version 1: one writer, whole tensors per file. Version 2: sharded (layout, tensors with pieces). Both are read. */
    static final int FORMAT_VERSION = 1;
    public static final int SHARDED_FORMAT_VERSION = 2;
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
    public record FileEntry(String name, String kind, long size, String crc32c) {}

    /** The parallel layout the checkpoint was saved with (informational: any layout can load it). */
    public record Layout(int world, int dp, int tp, int pp, int ep, int zeroStage) {}

    /**
     * One global tensor (the one-rank model's name, dtype and shape) and the pieces that tile it. A piece is
     * stored under the tensor's name in {@code file}: the concatenation along {@code dim} of the index ranges
     * {@code ranges} ([from, to) along dim, in order), all other dims whole (a tensor-parallel slice; a whole
     * tensor is one piece with the range [0, shape[dim])).
     */
    public record TensorEntry(String name, String dtype, long[] shape, List<Piece> pieces) {}

    /**
     * @param crc32c CRC32C of the piece's bytes in {@code file} (8 hex digits), so a rank can read and verify just
     *     the pieces it needs; null in checkpoints written before it existed, whose files are verified whole. An
     *     optional field rather than a format bump: older readers ignore it and still verify whole files.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Piece(String file, int dim, long[][] ranges, String crc32c) {
        public Piece(String file, int dim, long[][] ranges) {
            this(file, dim, ranges, null);
        }
    }

    public boolean sharded() {
        return formatVersion == SHARDED_FORMAT_VERSION;
    }

    public FileEntry file(String name) {
        for (FileEntry f : files) {
            if (f.name.equals(name)) {
                return f;
            }
        }
        throw new IllegalArgumentException("no file " + name + " in the manifest of step " + step);
    }

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
        if (m.formatVersion != FORMAT_VERSION && m.formatVersion != SHARDED_FORMAT_VERSION) {
            throw new IOException("unsupported format version " + m.formatVersion + " (this Megalith reads "
                    + FORMAT_VERSION + " and " + SHARDED_FORMAT_VERSION + ")");
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
        if (m.sharded()) {
            validateTensors(m, seen);
        }
        return m;
    }

    private static void validateTensors(CheckpointManifest m, Set<String> files) throws IOException {
        if (m.tensors == null || m.layout == null) {
            throw new IOException("sharded manifest without tensors or layout");
        }
        Set<String> names = new HashSet<>();
        for (TensorEntry t : m.tensors) {
            if (t == null || t.name == null || !names.add(t.name) || t.shape == null || t.pieces == null
                    || t.dtype == null) {
                throw new IOException("invalid or duplicate tensor in manifest: " + (t == null ? null : t.name));
            }
            long covered = 0;
            for (Piece p : t.pieces) {
                if (p == null || !files.contains(p.file) || p.ranges == null || p.dim < 0
                        || (t.shape.length > 0 && p.dim >= t.shape.length)
                        || (p.crc32c != null && !CRC_HEX.matcher(p.crc32c).matches())) {
                    throw new IOException("invalid piece of tensor " + t.name);
                }
                covered += TensorPieces.numel(t.shape, p.dim, p.ranges);
            }
            if (covered != HostTensor.numel(t.shape)) {
                throw new IOException("the pieces of tensor " + t.name + " cover " + covered + " of "
                        + HostTensor.numel(t.shape) + " elements");
            }
        }
    }
}
