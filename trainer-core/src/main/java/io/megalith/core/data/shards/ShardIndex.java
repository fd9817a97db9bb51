package io.megalith.core.data.shards;

import static io.megalith.core.data.shards.IndexJson.require;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code index.json} of a prepared data set (see the package documentation for the whole format). Written last:
 * a directory whose index parses and validates is complete.
 *
 * @param tokenizer the copy of the tokenizer file in the directory
 * @param shards in stream order: the stream is their concatenation
 * @param fingerprint SHA-256 (hex) of what the data set was prepared from; equal fingerprints mean it can be reused
 * @param input a readable description of the same (files with sizes and modification times, settings)
 */
public record ShardIndex(String format, int formatVersion, String createdAt, String dtype, String byteOrder,
        int vocabSize, long totalTokens, TokenizerFile tokenizer, List<Shard> shards, String fingerprint,
        JsonNode input) {
    public static final String FILE_NAME = IndexJson.FILE_NAME;
    public static final String FORMAT = "megalith-token-shards";
    public static final int FORMAT_VERSION = 1;
    public static final String BYTE_ORDER = "little-endian";
    public static final String TOKENIZER_FILE = "tokenizer.json";

    private static final Pattern SHARD_NAME = Pattern.compile("tokens-\\d{5,}\\.bin");
    private static final Pattern CRC_HEX = Pattern.compile("[0-9a-f]{8}");
    private static final Pattern SHA_HEX = Pattern.compile("[0-9a-f]{64}");

    /** The tokenizer file: what {@code Tokenizer.save} wrote, and its SHA-256 (hex). */
    public record TokenizerFile(String kind, String file, long bytes, String sha256) {}

    /** One shard file: {@code tokens} ids of {@code dtype}, so {@code bytes = tokens * dtype bytes}. */
    public record Shard(String file, long tokens, long bytes, String crc32c) {}

    /** File name of shard {@code i} in stream order. */
    public static String shardFileName(int i) {
        return String.format("tokens-%05d.bin", i);
    }

    public TokenDtype tokenDtype() {
        return TokenDtype.of(dtype);
    }

    public byte[] toJson() {
        return IndexJson.toJson(this);
    }

    /** Parses and validates an index; the message says what is wrong. */
    public static ShardIndex parse(byte[] json) throws IOException {
        ShardIndex ix = IndexJson.parse(json, ShardIndex.class);
        ix.validate();
        return ix;
    }

    private void validate() throws IOException {
        if (!FORMAT.equals(format) || formatVersion != FORMAT_VERSION) {
            throw new IOException("format " + format + " version " + formatVersion + ", expected " + FORMAT
                    + " version " + FORMAT_VERSION);
        }
        TokenDtype type;
        try {
            type = tokenDtype();
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
        require(BYTE_ORDER.equals(byteOrder), "byte_order " + byteOrder + ", expected " + BYTE_ORDER);
        require(vocabSize >= 1 && TokenDtype.forVocab(vocabSize).bytes() <= type.bytes(),
                "vocab_size " + vocabSize + " does not fit dtype " + dtype);
        require(tokenizer != null && tokenizer.kind() != null && TOKENIZER_FILE.equals(tokenizer.file())
                && tokenizer.bytes() >= 0 && tokenizer.sha256() != null && SHA_HEX.matcher(tokenizer.sha256()).matches(),
                "invalid tokenizer entry " + tokenizer);
        require(fingerprint != null && !fingerprint.isEmpty(), "no fingerprint");
        require(shards != null, "no shard list");
        Set<String> names = new HashSet<>();
        long sum = 0;
        for (Shard s : shards) {
            require(s != null && s.file() != null && SHARD_NAME.matcher(s.file()).matches() && names.add(s.file()),
                    "invalid or duplicate shard " + s);
            require(s.tokens() >= 0 && s.bytes() == s.tokens() * type.bytes(), "shard " + s.file() + ": "
                    + s.bytes() + " bytes for " + s.tokens() + " tokens of " + dtype);
            require(s.crc32c() != null && CRC_HEX.matcher(s.crc32c()).matches(), "shard " + s.file() + ": bad crc32c");
            sum += s.tokens();
        }
        require(sum == totalTokens, "shards hold " + sum + " tokens, total_tokens says " + totalTokens);
    }
}
