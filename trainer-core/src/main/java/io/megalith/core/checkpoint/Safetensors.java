package io.megalith.core.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.HostTensor.DType;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the Hugging Face safetensors format.
 *
 * <p>Layout: an unsigned 64-bit little-endian header length {@code N}, {@code N} bytes of UTF-8 JSON
 * mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets
 * relative to the data section) plus an optional {@code "__metadata__"} string map, then the raw
 * little-endian tensor bytes. Like the reference writer, the header is padded with spaces to a
 * multiple of 8 bytes so every tensor starts 8-byte aligned when the file is memory-mapped.
 *
 * <p>Reading treats the input as untrusted: sizes are checked before anything is allocated and
 * buffers grow only as bytes actually arrive, so a hostile or truncated file yields an
 * {@link IOException} describing the problem, never an {@link OutOfMemoryError}.
 */
public final class Safetensors {
    /** Largest header accepted on read, as in the reference implementation. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final String METADATA_KEY = "__metadata__";
    // Largest byte[] the JVM reliably allocates; HostTensor is backed by one ByteBuffer.
    private static final long MAX_TENSOR_BYTES = Integer.MAX_VALUE - 8;
    // Initial allocation for reads of unknown-good length: a lying header costs at most this much.
    private static final int UNTRUSTED_CHUNK = 1 << 20;
    private static final int COPY_CHUNK = 1 << 16;

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private Safetensors() {}

    /**
     * Writes {@code tensors} (in iteration order) and {@code metadata} to {@code out}. Tensor bytes
     * are streamed straight from each tensor's buffer; {@code out} is neither buffered nor closed.
     */
    public static void write(OutputStream out, Map<String, HostTensor> tensors, Map<String, String> metadata)
            throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject(METADATA_KEY);
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            if (METADATA_KEY.equals(e.getKey())) {
                throw new IllegalArgumentException("tensor name " + METADATA_KEY + " is reserved");
            }
            HostTensor t = e.getValue();
            ObjectNode info = header.putObject(e.getKey());
            info.put("dtype", t.dtype().name());
            ArrayNode shape = info.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            long end = Math.addExact(offset, t.data().remaining());
            info.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) & ~7;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(json);
        while (prefix.hasRemaining()) {
            prefix.put((byte) ' ');
        }
        out.write(prefix.array());
        for (HostTensor t : tensors.values()) {
            writeBuffer(out, t.data().duplicate());
        }
    }

    /** Reads a whole safetensors stream of unknown length; see {@link #read(InputStream, long)}. */
    public static SafetensorsFile read(InputStream in) throws IOException {
        return read(in, -1);
    }

    /**
     * Reads a whole safetensors stream and checks that it ends exactly where the header says.
     *
     * @param streamLength the stream's length if known (lets every offset be checked before any
     *     tensor buffer is allocated), or -1
     * @throws IOException if the stream is truncated, has trailing bytes, or its header is malformed
     */
    public static SafetensorsFile read(InputStream in, long streamLength) throws IOException {
        boolean sized = streamLength >= 0;
        ByteBuffer prefix = ByteBuffer.wrap(readBytes(in, 8, true, "header length")).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = prefix.getLong();
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new IOException("safetensors header length " + Long.toUnsignedString(headerLength)
                    + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
        }
        if (sized && headerLength > streamLength - 8) {
            throw new IOException("safetensors header length " + headerLength + " is larger than the file ("
                    + streamLength + " bytes)");
        }
        byte[] headerBytes = readBytes(in, (int) headerLength, sized, "header");
        LinkedHashMap<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = parseHeader(headerBytes, metadata);
        List<Entry> byOffset = checkLayout(entries);
        long dataLength = byOffset.isEmpty() ? 0 : byOffset.get(byOffset.size() - 1).end;
        if (sized && 8 + headerLength + dataLength != streamLength) {
            throw new IOException("safetensors header describes " + dataLength + " data bytes but the file has "
                    + (streamLength - 8 - headerLength));
        }
        Map<String, HostTensor> read = new LinkedHashMap<>();
        for (Entry e : byOffset) {
            byte[] bytes = readBytes(in, (int) (e.end - e.begin), sized, "data of tensor '" + e.name + "'");
            read.put(e.name, new HostTensor(e.dtype, e.shape, ByteBuffer.wrap(bytes)));
        }
        if (in.read() != -1) {
            throw new IOException("trailing bytes after the safetensors data section (" + dataLength + " bytes)");
        }
        LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries) {
            tensors.put(e.name, read.get(e.name));
        }
        return new SafetensorsFile(tensors, metadata);
    }

    private record Entry(String name, DType dtype, long[] shape, long begin, long end) {}

    /** Where one tensor's bytes lie in a file ({@code offset} from the file's start), for ranged reads. */
    record Located(DType dtype, long[] shape, long offset, long length) {}

    /** The header length from a file's first 8 bytes, checked against the file's length. */
    static long headerLength(byte[] prefix, long fileLength) throws IOException {
        long headerLength = ByteBuffer.wrap(prefix, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES || headerLength > fileLength - 8) {
            throw new IOException("safetensors header length " + Long.toUnsignedString(headerLength)
                    + " does not fit the file (" + fileLength + " bytes) or the limit");
        }
        return headerLength;
    }

    /**
     * The tensors of a file of {@code fileLength} bytes from its header alone, with the checks {@link #read}
     * makes of the layout (offsets tile the data section, which ends exactly at the end of the file).
     */
    static Map<String, Located> index(byte[] headerBytes, long fileLength) throws IOException {
        List<Entry> byOffset = checkLayout(parseHeader(headerBytes, new LinkedHashMap<>()));
        long dataStart = 8L + headerBytes.length;
        long dataLength = byOffset.isEmpty() ? 0 : byOffset.get(byOffset.size() - 1).end;
        if (dataStart + dataLength != fileLength) {
            throw new IOException("safetensors header describes " + dataLength + " data bytes but the file has "
                    + (fileLength - dataStart));
        }
        Map<String, Located> out = new LinkedHashMap<>();
        for (Entry e : byOffset) {
            out.put(e.name, new Located(e.dtype, e.shape, dataStart + e.begin, e.end - e.begin));
        }
        return out;
    }

    private static List<Entry> parseHeader(byte[] headerBytes, Map<String, String> metadata) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(headerBytes);
        } catch (JsonProcessingException e) {
            throw new IOException("safetensors header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IOException("safetensors header is not a JSON object");
        }
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (METADATA_KEY.equals(field.getKey())) {
                parseMetadata(field.getValue(), metadata);
            } else {
                entries.add(parseEntry(field.getKey(), field.getValue()));
            }
        }
        return entries;
    }

    private static void parseMetadata(JsonNode node, Map<String, String> metadata) throws IOException {
        if (!node.isObject()) {
            throw new IOException("safetensors " + METADATA_KEY + " is not a JSON object");
        }
        for (Map.Entry<String, JsonNode> kv : node.properties()) {
            if (!kv.getValue().isTextual()) {
                throw new IOException("safetensors " + METADATA_KEY + " value of '" + kv.getKey() + "' is not a string");
            }
            metadata.put(kv.getKey(), kv.getValue().textValue());
        }
    }

    private static Entry parseEntry(String name, JsonNode node) throws IOException {
        String where = "safetensors tensor '" + name + "'";
        if (!node.isObject()) {
            throw new IOException(where + ": entry is not a JSON object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new IOException(where + ": missing or non-string dtype");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(dtypeNode.textValue());
        } catch (IllegalArgumentException e) {
            throw new IOException(where + ": unknown dtype '" + dtypeNode.textValue() + "' (supported: "
                    + Arrays.toString(DType.values()) + ")");
        }
        long[] shape = nonNegativeLongs(node.get("shape"), -1, where + ": shape");
        long[] offsets = nonNegativeLongs(node.get("data_offsets"), 2, where + ": data_offsets");
        long nbytes = checkedByteSize(shape, dtype, where);
        if (offsets[1] < offsets[0] || offsets[1] - offsets[0] != nbytes) {
            throw new IOException(where + ": data_offsets " + Arrays.toString(offsets) + " do not span the "
                    + nbytes + " bytes that dtype " + dtype + " and shape " + Arrays.toString(shape) + " need");
        }
        if (nbytes > MAX_TENSOR_BYTES) {
            throw new IOException(where + ": " + nbytes + " bytes do not fit in one Java buffer");
        }
        return new Entry(name, dtype, shape, offsets[0], offsets[1]);
    }

    /** Like {@link HostTensor#numel} times the element size, but a hostile shape cannot overflow it. */
    private static long checkedByteSize(long[] shape, DType dtype, String where) throws IOException {
        long n = dtype.bytes;
        for (long d : shape) {
            if (d == 0) {
                return 0;
            }
        }
        try {
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
        } catch (ArithmeticException e) {
            throw new IOException(where + ": shape " + Arrays.toString(shape) + " overflows a 64-bit size");
        }
        return n;
    }

    private static long[] nonNegativeLongs(JsonNode node, int expectedLength, String what) throws IOException {
        if (node == null || !node.isArray() || (expectedLength >= 0 && node.size() != expectedLength)) {
            throw new IOException(what + " is missing or not an array"
                    + (expectedLength >= 0 ? " of " + expectedLength + " integers" : " of integers"));
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new IOException(what + " has an invalid entry " + v + " (need a non-negative integer)");
            }
            out[i] = v.longValue();
        }
        return out;
    }

    /**
     * Checks that the tensors tile the data section from 0 without gaps or overlaps (as the reference
     * implementation requires) and returns them in offset order, the order in which they are read.
     */
    private static List<Entry> checkLayout(List<Entry> entries) throws IOException {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        String previous = null;
        for (Entry e : sorted) {
            if (e.begin < expected) {
                throw new IOException("safetensors tensor '" + e.name + "' data_offsets [" + e.begin + ", " + e.end
                        + "] overlap tensor '" + previous + "', which ends at " + expected);
            }
            if (e.begin > expected) {
                throw new IOException("safetensors data section has a gap of " + (e.begin - expected)
                        + " bytes before tensor '" + e.name + "'");
            }
            expected = e.end;
            previous = e.name;
        }
        return sorted;
    }

    /**
     * Reads exactly {@code size} bytes. Unless the size was already checked against the stream's
     * length ({@code trusted}), the buffer starts small and doubles as data arrives, so a header that
     * lies about sizes cannot make us allocate more than about twice what the stream really holds.
     */
    private static byte[] readBytes(InputStream in, int size, boolean trusted, String what) throws IOException {
        byte[] buf = new byte[trusted ? size : Math.min(size, UNTRUSTED_CHUNK)];
        int filled = 0;
        while (filled < size) {
            if (filled == buf.length) {
                buf = Arrays.copyOf(buf, (int) Math.min(size, 2L * buf.length));
            }
            int n = in.read(buf, filled, buf.length - filled);
            if (n < 0) {
                throw new EOFException("safetensors stream truncated in " + what + ": expected " + size
                        + " bytes, got " + filled);
            }
            filled += n;
        }
        return buf;
    }

    private static void writeBuffer(OutputStream out, ByteBuffer buf) throws IOException {
        if (buf.hasArray()) {
            out.write(buf.array(), buf.arrayOffset() + buf.position(), buf.remaining());
            return;
        }
        // Direct or read-only buffers: copy through a small chunk instead of materialising the tensor.
        byte[] chunk = new byte[Math.min(COPY_CHUNK, buf.remaining())];
        while (buf.hasRemaining()) {
            int n = Math.min(chunk.length, buf.remaining());
            buf.get(chunk, 0, n);
            out.write(chunk, 0, n);
        }
    }
}
