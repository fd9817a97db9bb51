package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sharded checkpoint (the TP=2 x PP=2 fixture of {@link ShardedCheckpointHdfsTest}, on the local file system)
 * loads by ranged reads: a rank reads only the byte ranges of the pieces it needs, each verified by its own
 * CRC32C, and checkpoints written before per-piece CRCs still load with whole-file verification.
 */
class RangedPieceReadTest {
    private static final int SCALE = 1000; // a.weight: 8000 x 6 floats, most of the checkpoint
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    java.nio.file.Path tmp;

    private CheckpointStore saved(long step) throws Exception {
        CheckpointStore store = new CheckpointStore(tmp.toString(), new Configuration(), 0);
        ShardedCheckpointHdfsTest.save(store, step, SCALE);
        return store;
    }

    private static long bytesRead(CheckpointStore store) {
        FileSystem fs = store.fileSystem();
        @SuppressWarnings("deprecation")
        long n = FileSystem.getStatistics(fs.getUri().getScheme(), fs.getClass()).getBytesRead();
        return n;
    }

    private static long totalBytes(CheckpointStore store, long step) throws IOException {
        long total = 0;
        for (FileStatus st : store.fileSystem().listStatus(store.directory(step))) {
            total += st.getLen();
        }
        return total;
    }

    @Test
    void aRankReadsOnlyThePiecesItNeeds() throws Exception {
        CheckpointStore store = saved(3);
        CheckpointManifest m = store.manifest(3);
        assertThat(m.tensors()).allSatisfy(t -> assertThat(t.pieces()).allSatisfy(p -> assertThat(p.crc32c()).isNotNull()));
        Map<String, HostTensor> want = ShardedCheckpointHdfsTest.globals(3, SCALE);

        // a rank whose new layout holds b.weight and its moment (e.g. a dp rank that was dealt them): both are in
        // the same files as a.weight's pieces, which it must not read
        long before = bytesRead(store);
        Map<String, HostTensor> got = store.assemble(3, m, Set.of("b.weight", "exp_avg.b.weight")::contains, true);
        long read = bytesRead(store) - before;
        assertThat(got.get("b.weight").contentEquals(want.get("b.weight"))).isTrue();
        assertThat(got.get("exp_avg.b.weight").contentEquals(want.get("exp_avg.b.weight"))).isTrue();
        long total = totalBytes(store, 3);
        assertThat(read).as("bytes read of %d", total).isPositive().isLessThan(total / 10);

        // everything still reassembles exactly
        Map<String, HostTensor> all = store.assemble(3, m, n -> true, true);
        for (Map.Entry<String, HostTensor> e : want.entrySet()) {
            assertThat(all.get(e.getKey()).contentEquals(e.getValue())).as(e.getKey()).isTrue();
        }
    }

    @Test
    void aFlippedByteInAReadPieceIsNamedWithItsFileAndTensor() throws Exception {
        CheckpointStore store = saved(4);
        String file = "model-r00001.safetensors";
        java.nio.file.Path local = java.nio.file.Path.of(new Path(store.directory(4), file).toUri());
        long at = pieceOffset(local, "b.weight") + 5;
        byte[] all = Files.readAllBytes(local);
        all[(int) at] = (byte) ~all[(int) at];
        Files.write(local, all, StandardOpenOption.TRUNCATE_EXISTING);

        CheckpointManifest m = store.manifest(4);
        assertThatThrownBy(() -> store.assemble(4, m, "b.weight"::equals, true))
                .isInstanceOf(CorruptCheckpointException.class)
                .hasMessageContaining("step-00000004/" + file)
                .hasMessageContaining("CRC32C mismatch in tensor b.weight");
        // a rank that does not read the damaged piece is unaffected (the other ranks make it fall back too)
        assertThat(store.assemble(4, m, "a.weight"::equals, true)).containsOnlyKeys("a.weight");
        assertThat(store.verify(4)).singleElement().asString().contains(file, "CRC32C mismatch");
    }

    @Test
    void checkpointsWithoutPieceCrcsAreVerifiedWholeFile() throws Exception {
        CheckpointStore store = saved(5);
        java.nio.file.Path manifest = java.nio.file.Path.of(new Path(store.directory(5), "manifest.json").toUri());
        // the manifest as written before per-piece CRC32Cs existed
        JsonNode root = JSON.readTree(manifest.toFile());
        for (JsonNode t : root.get("tensors")) {
            for (JsonNode p : t.get("pieces")) {
                ((ObjectNode) p).remove("crc32c");
            }
        }
        JSON.writeValue(manifest.toFile(), root);
        CheckpointManifest m = store.manifest(5);
        assertThat(m.tensors().get(0).pieces().get(0).crc32c()).isNull();

        long before = bytesRead(store);
        Map<String, HostTensor> got = store.assemble(5, m, "b.weight"::equals, true);
        assertThat(bytesRead(store) - before).as("whole files read").isGreaterThan(2L * 8000 * 3 * 4);
        assertThat(got.get("b.weight").contentEquals(ShardedCheckpointHdfsTest.globals(5, SCALE).get("b.weight")))
                .isTrue();
        ShardedCheckpointHdfsTest.assertStep(store, 5, SCALE);

        // and whole-file verification still catches a flipped byte anywhere in a file it reads
        java.nio.file.Path local = java.nio.file.Path.of(
                new Path(store.directory(5), "model-r00001.safetensors").toUri());
        long at = pieceOffset(local, "a.weight") + 7;
        byte[] all = Files.readAllBytes(local);
        all[(int) at] = (byte) ~all[(int) at];
        Files.write(local, all, StandardOpenOption.TRUNCATE_EXISTING);
        assertThatThrownBy(() -> store.assemble(5, m, "b.weight"::equals, true))
                .isInstanceOf(CorruptCheckpointException.class)
                .hasMessageContaining("model-r00001.safetensors").hasMessageContaining("CRC32C mismatch");
    }

    /** Where a tensor's bytes start in a safetensors file, from its header. */
    private static long pieceOffset(java.nio.file.Path file, String tensor) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long headerLength = Safetensors.headerLength(Arrays.copyOf(all, 8), all.length);
        byte[] header = Arrays.copyOfRange(all, 8, 8 + (int) headerLength);
        return Safetensors.index(header, all.length).get(tensor).offset();
    }
}
