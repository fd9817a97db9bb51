package io.megalith.core.checkpoint;

import static io.megalith.core.checkpoint.CheckpointFixtures.assertContent;
import static io.megalith.core.checkpoint.CheckpointFixtures.blobFiles;
import static io.megalith.core.checkpoint.CheckpointFixtures.save;
import static io.megalith.core.checkpoint.CheckpointFixtures.tensorFiles;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.core.tensor.HostTensor;
import java.io.FileNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointStoreTest {
    @TempDir
    Path runDir;

    private Path checkpoints;

    @BeforeEach
    void setUp() {
        checkpoints = runDir.resolve("checkpoints");
    }

    private CheckpointStore store(int keepLast) throws Exception {
        return new CheckpointStore(runDir.toString(), new Configuration(), keepLast);
    }

    @Test
    void roundTripWithManifestOfSizesAndChecksums() throws Exception {
        CheckpointStore store = store(0);
        assertThat(store.loadLatest()).isEmpty();
        assertThat(store.completeSteps()).isEmpty();

        save(store, 42);

        assertContent(store.load(42), 42);
        assertContent(store.loadLatest().orElseThrow(), 42);
        assertThat(store.completeSteps()).containsExactly(42L);
        Path dir = checkpoints.resolve("step-00000042");
        assertThat(names(dir)).containsExactlyInAnyOrder("model.safetensors", "optim-rank0.safetensors",
                "trainer.json", "rng.bin", "empty.bin", "manifest.json");
        assertThat(names(checkpoints)).containsExactly("step-00000042"); // no .tmp-*, no .crc side files
        try (Stream<Path> all = Files.walk(runDir)) {
            assertThat(all.map(Path::toString)).noneMatch(p -> p.endsWith(".crc"));
        }

        JsonNode manifest = new ObjectMapper().readTree(dir.resolve("manifest.json").toFile());
        assertThat(manifest.get("formatVersion").asInt()).isEqualTo(1);
        assertThat(manifest.get("step").asLong()).isEqualTo(42);
        assertThat(manifest.get("createdAt").asText()).isNotBlank();
        assertThat(manifest.get("files")).hasSize(5);
        for (JsonNode f : manifest.get("files")) {
            byte[] content = Files.readAllBytes(dir.resolve(f.get("name").asText()));
            CRC32C crc = new CRC32C();
            crc.update(content);
            assertThat(f.get("size").asLong()).isEqualTo(content.length);
            assertThat(f.get("crc32c").asText()).isEqualTo(String.format("%08x", crc.getValue()));
        }
        // The shards are plain safetensors files, readable on their own.
        try (var in = Files.newInputStream(dir.resolve("model.safetensors"))) {
            assertThat(Safetensors.read(in).metadata()).containsEntry("format", "pt");
        }
    }

    @Test
    void plainPathsAndFileUrisAddressTheSameRun() throws Exception {
        save(store(0), 3);
        CheckpointStore viaUri = new CheckpointStore(runDir.toUri().toString(), new Configuration(), 0);
        assertContent(viaUri.load(3), 3);
        // fs.defaultFS must not redirect plain paths away from the local disk.
        Configuration hdfsDefault = new Configuration();
        hdfsDefault.set("fs.defaultFS", "hdfs://nowhere.invalid:8020");
        assertThat(new CheckpointStore(runDir.toString(), hdfsDefault, 0).completeSteps()).containsExactly(3L);
    }

    @Test
    void onlyCompleteCheckpointsAreListed() throws Exception {
        CheckpointStore store = store(0);
        save(store, 1);
        save(store, 2);
        // A crashed writer: everything written (even the manifest) but never renamed.
        copyDir(checkpoints.resolve("step-00000002"), checkpoints.resolve(".tmp-step-00000003-0123456789abcdef"));
        // A step directory without manifest, and one whose manifest does not parse.
        copyDir(checkpoints.resolve("step-00000002"), checkpoints.resolve("step-00000004"));
        Files.delete(checkpoints.resolve("step-00000004/manifest.json"));
        copyDir(checkpoints.resolve("step-00000002"), checkpoints.resolve("step-00000005"));
        Files.writeString(checkpoints.resolve("step-00000005/manifest.json"), "{\"formatVersion\":1,");

        assertThat(store.completeSteps()).containsExactly(1L, 2L);
        try (LogCapture log = new LogCapture(CheckpointStore.class)) {
            assertContent(store.loadLatest().orElseThrow(), 2);
            assertThat(log.warnings).hasSize(2);
            assertThat(log.warnings.get(0)).contains("step-00000005/manifest.json", "not a valid manifest");
            assertThat(log.warnings.get(1)).contains("step-00000004/manifest.json", "missing");
        }
        assertThatThrownBy(() -> store.load(3)).isInstanceOf(FileNotFoundException.class);
    }

    @Test
    void corruptedShardByteIsDetectedAndLoadLatestFallsBack() throws Exception {
        CheckpointStore store = store(0);
        save(store, 1);
        save(store, 2);
        Path shard = checkpoints.resolve("step-00000002/model.safetensors");
        byte[] bytes = Files.readAllBytes(shard);
        bytes[bytes.length - 3] ^= 0x10; // one bit of tensor data: the file still parses
        Files.write(shard, bytes);

        assertThatThrownBy(() -> store.load(2))
                .isInstanceOfSatisfying(CorruptCheckpointException.class,
                        e -> assertThat(e.file()).endsWith("step-00000002/model.safetensors"))
                .hasMessageContaining("model.safetensors")
                .hasMessageContaining("CRC32C mismatch");
        try (LogCapture log = new LogCapture(CheckpointStore.class)) {
            assertContent(store.loadLatest().orElseThrow(), 1);
            assertThat(log.warnings).singleElement().asString()
                    .contains("step-00000002/model.safetensors", "CRC32C mismatch");
        }
    }

    @Test
    void corruptedHeaderIsReportedAsChecksumMismatchNotAsParseError() throws Exception {
        CheckpointStore store = store(0);
        save(store, 1);
        Path shard = checkpoints.resolve("step-00000001/optim-rank0.safetensors");
        byte[] bytes = Files.readAllBytes(shard);
        bytes[8] = '['; // header no longer a JSON object
        Files.write(shard, bytes);

        assertThatThrownBy(() -> store.load(1))
                .hasMessageContaining("optim-rank0.safetensors")
                .hasMessageContaining("CRC32C mismatch");
        assertThat(store.loadLatest()).isEmpty();
    }

    @Test
    void truncatedOrMissingFilesAreDetectedAndLoadLatestFallsBack() throws Exception {
        CheckpointStore store = store(0);
        save(store, 1);
        save(store, 2);
        save(store, 3);
        Path blob = checkpoints.resolve("step-00000003/trainer.json");
        byte[] full = Files.readAllBytes(blob);
        Files.write(blob, Arrays.copyOf(full, full.length - 1));
        Files.delete(checkpoints.resolve("step-00000002/optim-rank0.safetensors"));

        assertThatThrownBy(() -> store.load(3))
                .isInstanceOf(CorruptCheckpointException.class)
                .hasMessageContaining("trainer.json")
                .hasMessageContaining("manifest says " + full.length);
        assertThatThrownBy(() -> store.load(2))
                .isInstanceOf(CorruptCheckpointException.class)
                .hasMessageContaining("optim-rank0.safetensors")
                .hasMessageContaining("missing");
        try (LogCapture log = new LogCapture(CheckpointStore.class)) {
            assertContent(store.loadLatest().orElseThrow(), 1);
            assertThat(log.warnings).hasSize(2);
        }
    }

    @Test
    void retentionKeepsTheNewestAndRemovesStaleTemporaries() throws Exception {
        CheckpointStore store = store(2);
        Files.createDirectories(checkpoints.resolve(".tmp-step-00000099-deadbeefdeadbeef"));
        Files.writeString(checkpoints.resolve(".tmp-step-00000099-deadbeefdeadbeef/model.safetensors"), "partial");
        for (long step = 1; step <= 5; step++) {
            save(store, step);
            assertThat(store.completeSteps()).containsExactlyElementsOf(
                    step == 1 ? List.of(1L) : List.of(step - 1, step));
        }
        assertThat(names(checkpoints)).containsExactlyInAnyOrder("step-00000004", "step-00000005");
        assertContent(store.load(4), 4);

        CheckpointStore keepAll = store(0);
        save(keepAll, 6);
        save(keepAll, 7);
        assertThat(keepAll.completeSteps()).containsExactly(4L, 5L, 6L, 7L);
    }

    @Test
    void retentionNeverDeletesCheckpointsNewerThanTheOneJustWritten() throws Exception {
        CheckpointStore store = store(2);
        save(store, 10);
        save(store, 20);
        save(store, 30);
        assertThat(store.completeSteps()).containsExactly(20L, 30L);
        save(store, 15); // e.g. training was rolled back and re-saved an earlier step
        assertThat(store.completeSteps()).containsExactly(15L, 20L, 30L);
        save(store, 16);
        assertThat(store.completeSteps()).containsExactly(16L, 20L, 30L);
    }

    @Test
    void savingAnExistingStepReplacesIt() throws Exception {
        CheckpointStore store = store(0);
        save(store, 7);
        store.save(7, tensorFiles(1007), blobFiles(1007));

        LoadedCheckpoint loaded = store.load(7);
        assertThat(loaded.tensorFiles().get("model").get("wte").toFloats()[0]).isEqualTo(1007f);
        assertThat(loaded.blobFiles().get("rng.bin")[0]).isEqualTo((byte) 1007);
        assertThat(names(checkpoints)).containsExactly("step-00000007");
    }

    @Test
    void aFailedReplaceLeavesTheOldCheckpointIntact() throws Exception {
        CheckpointStore store = store(0);
        save(store, 7);
        Map<String, Map<String, HostTensor>> failing = tensorFiles(8);
        // Fails after the safetensors header is out, i.e. in the middle of writing a file.
        failing.put("model", new LinkedHashMap<>(failing.get("model")) {
            @Override
            public Collection<HostTensor> values() {
                throw new IllegalStateException("simulated disk failure");
            }
        });

        assertThatThrownBy(() -> store.save(7, failing, blobFiles(8))).hasMessage("simulated disk failure");

        assertContent(store.load(7), 7);
        assertThat(names(checkpoints)).containsExactly("step-00000007");
    }

    @Test
    void aReplaceInterruptedBetweenItsRenamesIsRepairedByTheNextSave() throws Exception {
        CheckpointStore store = store(0);
        save(store, 7);
        // State after a crash between "move old aside" and "rename new into place".
        Files.move(checkpoints.resolve("step-00000007"), checkpoints.resolve(".replaced-step-00000007-00000000000000ff"));
        Files.createDirectories(checkpoints.resolve(".tmp-step-00000007-00000000000000fe"));
        assertThat(store.completeSteps()).isEmpty();

        save(store, 8);

        assertThat(store.completeSteps()).containsExactly(7L, 8L);
        assertContent(store.load(7), 7);
        assertThat(names(checkpoints)).containsExactlyInAnyOrder("step-00000007", "step-00000008");
    }

    @Test
    void invalidFileNamesAreRejectedBeforeWriting() throws Exception {
        CheckpointStore store = store(0);
        Map<String, Map<String, HostTensor>> none = Map.of();
        assertThatThrownBy(() -> store.save(1, none, Map.of("../escape", new byte[1])))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.save(1, none, Map.of("manifest.json", new byte[1])))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.save(1, none, Map.of(".hidden", new byte[1])))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.save(1, tensorFiles(1), Map.of("model.safetensors", new byte[1])))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("used twice");
        assertThatThrownBy(() -> store.save(-1, none, Map.of())).isInstanceOf(IllegalArgumentException.class);
        assertThat(Files.exists(checkpoints)).isFalse();
    }

    private static List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).toList();
        }
    }

    private static void copyDir(Path from, Path to) throws Exception {
        Files.createDirectories(to);
        for (String name : names(from)) {
            Files.copy(from.resolve(name), to.resolve(name));
        }
    }
}
