package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.parallel.mesh.DeviceMesh;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint saved at DP=2 x TP=2 (tensors dealt out among the dp replicas, so every shard file mixes tensors of
 * all layers) restored at PP=2: each stage's rank reads the pieces of its own stage only. The same checkpoint with
 * its per-piece CRC32Cs removed (as written before them) restores too, with the same losses, by reading whole
 * files: that costs each rank about half the tensor bytes more.
 */
class RangedRestoreTest {
    @TempDir
    Path tmp;

    /** Bytes the calling thread has read through the local file system (the store's raw local FS). */
    @SuppressWarnings("deprecation")
    private static long threadBytesRead(FileSystem fs) {
        return FileSystem.getStatistics(fs.getUri().getScheme(), fs.getClass()).getThreadStatistics().getBytesRead();
    }

    private record Resumed(long bytesRead, List<Double> losses) {}

    private static List<Resumed> resumeAtTwoStages(String dir, FileSystem fs) throws Exception {
        MegalithConfig cfg = ReshardingTest.config("parallel.pp=2");
        return LoopbackRanks.run(DeviceMesh.of(1, 1, 2), ctx -> {
            long before = threadBytesRead(fs);
            List<Double> losses = ReshardingTest.train(cfg, ctx.rankGroups(), true, dir);
            return new Resumed(threadBytesRead(fs) - before, losses);
        });
    }

    @Test
    void eachStageReadsOnlyItsOwnPieces() throws Exception {
        String dir = tmp.resolve("run").toString();
        MegalithConfig saveCfg = ReshardingTest.config("parallel.dp=2", "parallel.tp=2");
        LoopbackRanks.run(DeviceMesh.of(2, 2, 1), ctx -> ReshardingTest.train(saveCfg, ctx.rankGroups(), false, dir));
        CheckpointStore store = new CheckpointStore(dir, new Configuration(), 0);
        long step = ReshardingTest.SAVE_AT;
        long tensorBytes = store.manifest(step).files().stream().filter(f -> f.name().endsWith(".safetensors"))
                .mapToLong(CheckpointManifest.FileEntry::size).sum();
        FileSystem fs = store.fileSystem();

        List<Resumed> ranged = resumeAtTwoStages(dir, fs);

        // the same checkpoint as written before per-piece CRCs: whole files, verified whole
        Path manifest = Path.of(store.directory(step).toUri()).resolve("manifest.json");
        JsonMapper json = JsonMapper.builder().build();
        JsonNode root = json.readTree(manifest.toFile());
        root.get("tensors").forEach(t -> t.get("pieces").forEach(p -> ((ObjectNode) p).remove("crc32c")));
        json.writeValue(manifest.toFile(), root);
        List<Resumed> whole = resumeAtTwoStages(dir, fs);

        for (int r = 0; r < 2; r++) {
            assertThat(ranged.get(r).losses()).isEqualTo(whole.get(r).losses()).hasSize(
                    ReshardingTest.STEPS - ReshardingTest.SAVE_AT);
            // a stage holds about half of the layers: its ranged reads skip about half of the tensor bytes (the
            // manifest and blobs are read whole either way)
            assertThat(ranged.get(r).bytesRead()).as("rank %d, of %d tensor bytes", r, tensorBytes)
                    .isLessThan(whole.get(r).bytesRead() - tensorBytes / 3);
            assertThat(whole.get(r).bytesRead()).isGreaterThan(tensorBytes);
        }
    }
}
