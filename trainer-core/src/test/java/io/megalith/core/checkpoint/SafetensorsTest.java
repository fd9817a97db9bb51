package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.HostTensor.DType;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SafetensorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void roundTripsDtypesShapesScalarsAndEmptyTensorsInInsertionOrder() throws IOException {
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        tensors.put("z.weight", HostTensor.ofFloats(new float[] {1, -2.5f, 3, 4, 5, 6}, 2, 3));
        tensors.put("a.half", random(DType.F16, 4));
        tensors.put("m.bf16", random(DType.BF16, 2, 2));
        tensors.put("ids", HostTensor.ofLongs(new long[] {Long.MIN_VALUE, 0, Long.MAX_VALUE}, 3));
        tensors.put("i32", random(DType.I32, 2, 1, 2));
        tensors.put("bytes", random(DType.U8, 5));
        tensors.put("scalar", HostTensor.ofFloats(new float[] {42f})); // 0-d: shape [], one element
        tensors.put("empty", HostTensor.ofFloats(new float[0], 0, 3));
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("note", "ünïcode \"quoted\"");

        SafetensorsFile back = Safetensors.read(new ByteArrayInputStream(write(tensors, metadata)));

        assertThat(back.tensors()).isInstanceOf(LinkedHashMap.class);
        assertThat(back.tensors().keySet()).containsExactlyElementsOf(tensors.keySet());
        tensors.forEach((name, t) -> assertThat(back.tensors().get(name).contentEquals(t)).as(name).isTrue());
        assertThat(back.tensors().get("scalar").shape()).isEmpty();
        assertThat(back.tensors().get("scalar").toFloats()).containsExactly(42f);
        assertThat(back.tensors().get("empty").shape()).containsExactly(0, 3);
        assertThat(back.metadata()).containsExactlyEntriesOf(metadata);
    }

    @Test
    void writesExactlyWhatTheSpecPrescribes() throws IOException {
        byte[] file = write(Map.of("a", HostTensor.ofFloats(new float[] {1f}, 1)), Map.of());

        // 54 bytes of JSON, padded with 2 spaces to 56 so the data starts at offset 64.
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}  ";
        ByteBuffer expected = ByteBuffer.allocate(8 + 56 + 4).order(ByteOrder.LITTLE_ENDIAN);
        expected.putLong(56).put(json.getBytes(StandardCharsets.UTF_8)).putFloat(1f);
        assertThat(file).isEqualTo(expected.array());
    }

    @Test
    void headerParsedByHandMatchesTensorsAndIsAligned() throws IOException {
        // Names of length 1..9 make the unpadded JSON hit every residue mod 8.
        for (int len = 1; len <= 9; len++) {
            Map<String, HostTensor> tensors = new LinkedHashMap<>();
            tensors.put("x".repeat(len), random(DType.I32, 3));
            tensors.put("scale", HostTensor.ofFloats(new float[] {0.5f}));
            byte[] file = write(tensors, Map.of("k", "v"));

            long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertThat(n % 8).as("header length %d", n).isZero();
            String header = new String(file, 8, (int) n, StandardCharsets.UTF_8);
            assertThat(header).startsWith("{");
            assertThat(header.substring(header.lastIndexOf('}') + 1)).matches(" {0,7}");
            JsonNode root = JSON.readTree(header);
            List<String> keys = new ArrayList<>();
            root.fieldNames().forEachRemaining(keys::add);
            assertThat(keys).containsExactly("__metadata__", "x".repeat(len), "scale");
            assertThat(root.get("__metadata__").get("k").asText()).isEqualTo("v");

            JsonNode x = root.get("x".repeat(len));
            assertThat(x.get("dtype").asText()).isEqualTo("I32");
            assertThat(x.get("shape").toString()).isEqualTo("[3]");
            assertThat(x.get("data_offsets").toString()).isEqualTo("[0,12]");
            JsonNode scale = root.get("scale");
            assertThat(scale.get("shape").toString()).isEqualTo("[]");
            assertThat(scale.get("data_offsets").toString()).isEqualTo("[12,16]");

            int data = 8 + (int) n;
            assertThat(file).hasSize(data + 16);
            assertThat(Arrays.copyOfRange(file, data, data + 12)).isEqualTo(bytes(tensors.get("x".repeat(len))));
            assertThat(ByteBuffer.wrap(file, data + 12, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat()).isEqualTo(0.5f);
        }
    }

    @Test
    void readsFilesFromOtherWritersWithoutPaddingOrMetadata() throws IOException {
        String header = "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]},"
                + "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}";
        SafetensorsFile f = Safetensors.read(new ByteArrayInputStream(raw(header, new byte[] {1, 2, 3, 4, 5})));

        assertThat(f.metadata()).isEmpty();
        assertThat(f.tensors().keySet()).containsExactly("b", "a"); // header order, not data order
        assertThat(bytes(f.tensors().get("a"))).containsExactly(1, 2, 3);
        assertThat(bytes(f.tensors().get("b"))).containsExactly(4, 5);
    }

    @Test
    void streamsDirectBuffersToo() throws IOException {
        ByteBuffer direct = ByteBuffer.allocateDirect(200_000).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 50_000; i++) {
            direct.putFloat(i);
        }
        direct.flip();
        HostTensor t = new HostTensor(DType.F32, new long[] {50_000}, direct);

        HostTensor back = Safetensors.read(new ByteArrayInputStream(write(Map.of("t", t), Map.of()))).tensors().get("t");

        assertThat(back.contentEquals(t)).isTrue();
        assertThat(t.data().position()).isZero(); // writing did not consume the caller's buffer
    }

    @Test
    void hostileHeaderLengthsAreRejectedWithoutAllocating() {
        for (long n : new long[] {1L << 62, -1L, Safetensors.MAX_HEADER_BYTES + 1}) {
            byte[] file = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(n).array();
            assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(file)))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("exceeds the limit");
        }
    }

    @Test
    void headerLongerThanTheStreamIsRejected() {
        byte[] file = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(50_000_000).array();
        assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(file)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("truncated in header");
        assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(file), file.length))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("larger than the file");
    }

    @Test
    void everyTruncationIsAnIOException() throws IOException {
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        tensors.put("w", random(DType.F32, 4, 4));
        tensors.put("b", random(DType.F32, 4));
        byte[] file = write(tensors, Map.of("k", "v"));
        for (int cut = 0; cut < file.length; cut++) {
            byte[] prefix = Arrays.copyOf(file, cut);
            assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(prefix)))
                    .as("cut at %d", cut)
                    .isInstanceOf(IOException.class);
            assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(prefix), prefix.length))
                    .as("cut at %d, length known", cut)
                    .isInstanceOf(IOException.class);
        }
    }

    @Test
    void hugeClaimedTensorOnATinyStreamFailsCleanly() {
        // ~2 GB claimed, 4 bytes present: must end in EOF, not in a 2 GB allocation.
        String header = "{\"t\":{\"dtype\":\"U8\",\"shape\":[2000000000],\"data_offsets\":[0,2000000000]}}";
        byte[] file = raw(header, new byte[4]);
        assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(file)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("truncated in data of tensor 't'");
        assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(file), file.length))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("describes 2000000000 data bytes");
    }

    @ParameterizedTest(name = "{2}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}|8|overlap tensor 'a'",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}|8|gap of 4 bytes",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}|6|trailing bytes",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}|4|do not span the 8 bytes",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}|4|do not span",
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}|8|unknown dtype 'F64'",
        "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}|4|missing or non-string dtype",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}|4|shape has an invalid entry -1",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}|4|shape has an invalid entry",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}|4|data_offsets is missing or not an array of 2",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}|4|overflows",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[3000000000],\"data_offsets\":[0,3000000000]}}|4|do not fit in one Java buffer",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}|4|not valid JSON",
        "{\"a\":|4|not valid JSON",
        "{\"a\":1} x|4|not valid JSON",
        "[1,2]|0|not a JSON object",
        "{\"__metadata__\":{\"k\":1}}|0|value of 'k' is not a string",
        "{\"__metadata__\":[]}|0|__metadata__ is not a JSON object",
    })
    void malformedHeadersAreRejectedWithAReason(String header, int dataBytes, String reason) {
        byte[] file = raw(header, new byte[dataBytes]);
        assertThatThrownBy(() -> Safetensors.read(new ByteArrayInputStream(file)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(reason);
    }

    @Test
    void metadataKeyIsNotATensorName() {
        Map<String, HostTensor> tensors = Map.of("__metadata__", HostTensor.ofFloats(new float[] {1f}));
        assertThatThrownBy(() -> write(tensors, Map.of())).isInstanceOf(IllegalArgumentException.class);
    }

    static byte[] write(Map<String, HostTensor> tensors, Map<String, String> metadata) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Safetensors.write(out, tensors, metadata);
        return out.toByteArray();
    }

    static HostTensor random(DType dtype, long... shape) {
        byte[] b = new byte[(int) (HostTensor.numel(shape) * dtype.bytes)];
        new Random(Arrays.hashCode(shape) * 31L + dtype.ordinal()).nextBytes(b);
        return new HostTensor(dtype, shape, ByteBuffer.wrap(b));
    }

    private static byte[] bytes(HostTensor t) {
        byte[] b = new byte[t.data().remaining()];
        t.data().duplicate().get(b);
        return b;
    }

    /** A file with a hand-written header (unpadded) and the given data section. */
    private static byte[] raw(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).put(data).array();
    }
}
