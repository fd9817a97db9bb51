package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.HostTensor.DType;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** Sample checkpoint content shared by the local and HDFS store tests. */
final class CheckpointFixtures {
    private CheckpointFixtures() {}

    /** Two shards and two blobs whose content depends on {@code seed}. */
    static Map<String, Map<String, HostTensor>> tensorFiles(long seed) {
        Map<String, HostTensor> model = new LinkedHashMap<>();
        model.put("wte", HostTensor.ofFloats(new float[] {seed, 1, 2, 3, 4, 5}, 3, 2));
        model.put("ln.bias", SafetensorsTest.random(DType.F32, 64 + (int) seed % 7));
        model.put("mask", SafetensorsTest.random(DType.U8, 0));
        Map<String, HostTensor> optim = new LinkedHashMap<>();
        optim.put("t", HostTensor.ofLongs(new long[] {seed}));
        optim.put("m.wte", SafetensorsTest.random(DType.BF16, 3, 2));
        Map<String, Map<String, HostTensor>> files = new LinkedHashMap<>();
        files.put("model", model);
        files.put("optim-rank0", optim);
        return files;
    }

    static Map<String, byte[]> blobFiles(long seed) {
        Map<String, byte[]> blobs = new LinkedHashMap<>();
        blobs.put("trainer.json", ("{\"step\":" + seed + "}").getBytes(StandardCharsets.UTF_8));
        blobs.put("rng.bin", new byte[] {(byte) seed, 0, -1, 7});
        blobs.put("empty.bin", new byte[0]);
        return blobs;
    }

    static void save(CheckpointStore store, long step) throws Exception {
        store.save(step, tensorFiles(step), blobFiles(step));
    }

    /** Asserts that {@code loaded} holds exactly what {@link #save} wrote for {@code step}. */
    static void assertContent(LoadedCheckpoint loaded, long step) {
        assertThat(loaded.step()).isEqualTo(step);
        Map<String, Map<String, HostTensor>> expected = tensorFiles(step);
        assertThat(loaded.tensorFiles().keySet()).containsExactlyElementsOf(expected.keySet());
        expected.forEach((file, tensors) -> {
            Map<String, HostTensor> got = loaded.tensorFiles().get(file);
            assertThat(got.keySet()).as(file).containsExactlyElementsOf(tensors.keySet());
            tensors.forEach((name, t) -> assertThat(got.get(name).contentEquals(t)).as(file + "/" + name).isTrue());
        });
        Map<String, byte[]> blobs = blobFiles(step);
        assertThat(loaded.blobFiles().keySet()).containsExactlyElementsOf(blobs.keySet());
        blobs.forEach((name, b) -> assertThat(loaded.blobFiles().get(name)).as(name).isEqualTo(b));
    }
}
