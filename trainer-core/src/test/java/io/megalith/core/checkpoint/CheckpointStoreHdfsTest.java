package io.megalith.core.checkpoint;

import static io.megalith.core.checkpoint.CheckpointFixtures.assertContent;
import static io.megalith.core.checkpoint.CheckpointFixtures.blobFiles;
import static io.megalith.core.checkpoint.CheckpointFixtures.save;
import static io.megalith.core.checkpoint.CheckpointFixtures.tensorFiles;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** The same protocol against a real in-process HDFS, whose rename semantics differ from the local FS. */
class CheckpointStoreHdfsTest {
    private static MiniDFSCluster cluster;
    private static Configuration conf;
    private static FileSystem hdfs;

    @BeforeAll
    static void startCluster() throws Exception {
        File base = new File("target/minidfs-" + CheckpointStoreHdfsTest.class.getSimpleName()).getAbsoluteFile();
        FileUtil.fullyDelete(base);
        conf = new Configuration();
        conf.setInt("dfs.replication", 1);
        cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(1).build();
        cluster.waitActive();
        hdfs = cluster.getFileSystem();
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.shutdown();
        }
    }

    /** A fresh run directory per test, as an hdfs:// URI. */
    private static String runDir(TestInfo test) {
        return hdfs.getUri() + "/runs/" + test.getTestMethod().orElseThrow().getName();
    }

    @Test
    void roundTrip(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 0);
        assertThat(store.checkpointsDir().toUri().getScheme()).isEqualTo("hdfs");
        assertThat(store.loadLatest()).isEmpty();

        save(store, 42);

        assertContent(store.load(42), 42);
        assertContent(store.loadLatest().orElseThrow(), 42);
        assertThat(store.completeSteps()).containsExactly(42L);
        Path checkpoints = new Path(runDir(test), "checkpoints");
        assertThat(names(checkpoints)).containsExactly("step-00000042");
        assertThat(names(new Path(checkpoints, "step-00000042"))).containsExactlyInAnyOrder("model.safetensors",
                "optim-rank0.safetensors", "trainer.json", "rng.bin", "empty.bin", "manifest.json");
    }

    @Test
    void corruptionAndTruncationFallBackToOlderCheckpoints(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 0);
        save(store, 1);
        save(store, 2);
        save(store, 3);
        Path checkpoints = new Path(runDir(test), "checkpoints");
        // HDFS block checksums stay valid: only our CRC32C can notice these.
        Path shard = new Path(checkpoints, "step-00000003/model.safetensors");
        byte[] bytes = readAll(shard);
        bytes[bytes.length - 1] ^= 0x01;
        writeAll(shard, bytes);
        Path blob = new Path(checkpoints, "step-00000002/rng.bin");
        writeAll(blob, Arrays.copyOf(readAll(blob), 2));

        assertThatThrownBy(() -> store.load(3))
                .isInstanceOfSatisfying(CorruptCheckpointException.class,
                        e -> assertThat(e.file()).endsWith("step-00000003/model.safetensors"))
                .hasMessageContaining("CRC32C mismatch");
        assertThatThrownBy(() -> store.load(2))
                .isInstanceOf(CorruptCheckpointException.class)
                .hasMessageContaining("step-00000002/rng.bin")
                .hasMessageContaining("size 2 bytes");
        try (LogCapture log = new LogCapture(CheckpointStore.class)) {
            assertContent(store.loadLatest().orElseThrow(), 1);
            assertThat(log.warnings).hasSize(2);
            assertThat(log.warnings.get(0)).contains("step-00000003/model.safetensors");
            assertThat(log.warnings.get(1)).contains("step-00000002/rng.bin");
        }
        assertThat(store.completeSteps()).containsExactly(1L, 2L, 3L); // complete, if not valid
    }

    @Test
    void overwriteAndRetention(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 2);
        save(store, 1);
        save(store, 2);
        // HDFS's FileSystem.rename onto an existing directory would move the new one inside it.
        store.save(2, tensorFiles(1002), blobFiles(1002));
        assertThat(store.load(2).blobFiles().get("rng.bin")[0]).isEqualTo((byte) 1002);
        assertThat(names(new Path(runDir(test), "checkpoints/step-00000002"))).doesNotContain("step-00000002")
                .hasSize(6);
        save(store, 3);
        assertThat(store.completeSteps()).containsExactly(2L, 3L);
        assertThat(names(new Path(runDir(test), "checkpoints"))).containsExactlyInAnyOrder("step-00000002", "step-00000003");
    }

    private static List<String> names(Path dir) throws Exception {
        List<String> out = new ArrayList<>();
        for (FileStatus st : hdfs.listStatus(dir)) {
            out.add(st.getPath().getName());
        }
        return out;
    }

    private static byte[] readAll(Path p) throws Exception {
        try (FSDataInputStream in = hdfs.open(p)) {
            return in.readAllBytes();
        }
    }

    private static void writeAll(Path p, byte[] bytes) throws Exception {
        try (FSDataOutputStream out = hdfs.create(p, true)) {
            out.write(bytes);
        }
    }
}
