package io.megalith.core.data.images;

import static io.megalith.core.data.shards.IndexJson.require;

import com.fasterxml.jackson.databind.JsonNode;
import io.megalith.core.data.shards.IndexJson;
import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code index.json} of a prepared image data set (format: package documentation), written last: a directory whose
 * index parses and validates is complete.
 *
 * @param recordBytes bytes per image in a shard: a uint16 little-endian label, then channels x height x width pixel
 *     bytes (row-major per channel)
 * @param mean per-channel mean of the training split's pixels as x / 255 (normalisation: (x / 255 - mean) / std)
 * @param fingerprint SHA-256 (hex) of {@code input}: equal fingerprints mean the data set can be reused
 */
public record ImageIndex(String format, int formatVersion, String createdAt, int channels, int height, int width,
        String byteOrder, int recordBytes, List<String> classNames, List<Double> mean, List<Double> std, Split train,
        Split heldOut, String fingerprint, JsonNode input) {
    public static final String FILE_NAME = IndexJson.FILE_NAME;
    public static final String FORMAT = "megalith-image-shards";
    public static final int FORMAT_VERSION = 1;
    public static final String BYTE_ORDER = "little-endian";
    public static final int LABEL_BYTES = 2;

    private static final Pattern SHARD_NAME = Pattern.compile("(train|held-out)-\\d{5,}\\.bin");
    private static final Pattern CRC_HEX = Pattern.compile("[0-9a-f]{8}");

    /** A split: its images, in the order of its shards. */
    public record Split(long images, List<Shard> shards) {}

    /** One shard file: {@code images} records, so {@code bytes = images x record_bytes}. */
    public record Shard(String file, long images, long bytes, String crc32c) {}

    /** File name of shard {@code i} of a split. */
    public static String shardFileName(boolean train, int i) {
        return String.format("%s-%05d.bin", train ? "train" : "held-out", i);
    }

    public static int recordBytes(int channels, int height, int width) {
        return LABEL_BYTES + channels * height * width;
    }

    public double[] meanArray() {
        return mean.stream().mapToDouble(Double::doubleValue).toArray();
    }

    public double[] stdArray() {
        return std.stream().mapToDouble(Double::doubleValue).toArray();
    }

    public byte[] toJson() {
        return IndexJson.toJson(this);
    }

    /** Parses and validates an index; the message says what is wrong. */
    public static ImageIndex parse(byte[] json) throws IOException {
        ImageIndex ix = IndexJson.parse(json, ImageIndex.class);
        ix.validate();
        return ix;
    }

    private void validate() throws IOException {
        require(FORMAT.equals(format) && formatVersion == FORMAT_VERSION, "format " + format + " version "
                + formatVersion + ", expected " + FORMAT + " version " + FORMAT_VERSION);
        require(BYTE_ORDER.equals(byteOrder), "byte_order " + byteOrder + ", expected " + BYTE_ORDER);
        require(channels >= 1 && height >= 1 && width >= 1 && recordBytes == recordBytes(channels, height, width),
                "record_bytes " + recordBytes + " for images of " + channels + "x" + height + "x" + width);
        require(classNames != null && !classNames.isEmpty() && classNames.size() <= 1 << 16, "class_names missing");
        require(mean != null && mean.size() == channels && std != null && std.size() == channels
                && std.stream().allMatch(s -> s != null && s > 0), "mean and std need one value per channel, std > 0");
        require(fingerprint != null && !fingerprint.isEmpty(), "no fingerprint");
        Set<String> names = new HashSet<>();
        for (Split s : List.of(train == null ? new Split(-1, null) : train,
                heldOut == null ? new Split(-1, null) : heldOut)) {
            require(s.shards() != null, "a split without a shard list");
            long sum = 0;
            for (Shard sh : s.shards()) {
                require(sh != null && sh.file() != null && SHARD_NAME.matcher(sh.file()).matches()
                        && names.add(sh.file()), "invalid or duplicate shard " + sh);
                require(sh.images() >= 0 && sh.bytes() == sh.images() * recordBytes, "shard " + sh.file() + ": "
                        + sh.bytes() + " bytes for " + sh.images() + " images of " + recordBytes + " bytes");
                require(sh.crc32c() != null && CRC_HEX.matcher(sh.crc32c()).matches(), "shard " + sh.file()
                        + ": bad crc32c");
                sum += sh.images();
            }
            require(sum == s.images(), "shards hold " + sum + " images, the split says " + s.images());
        }
    }
}
