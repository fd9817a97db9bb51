package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.tensor.HostTensor;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Sharded checkpoints (format 2) on a real in-process HDFS of 3 DataNodes with replication 2: four "ranks"
 * (threads) each write their pieces of a tensor-parallel layout into one staging directory, rank 0 commits.
 * Save, list, load (whole tensors assembled from pieces), retention, atomicity when a writer dies before
 * the commit, corruption detection with fallback, and a DataNode stopped in the middle of a save.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ShardedCheckpointHdfsTest {
    private static MiniDFSCluster cluster;
    private static Configuration conf;
    private static FileSystem hdfs;
    static final int WORLD = 4;
    static final CheckpointManifest.Layout LAYOUT = new CheckpointManifest.Layout(WORLD, 1, 2, 2, 1, 0);

    @BeforeAll
    static void startCluster() throws Exception {
        File base = new File("target/minidfs-" + ShardedCheckpointHdfsTest.class.getSimpleName()).getAbsoluteFile();
        FileUtil.fullyDelete(base);
        conf = new Configuration();
        conf.setInt("dfs.replication", 2);
        conf.setInt("dfs.heartbeat.interval", 1);
        cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(3).build();
        cluster.waitActive();
        hdfs = cluster.getFileSystem();
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.shutdown();
        }
    }

    private static String runDir(TestInfo test) {
        return hdfs.getUri() + "/runs/" + test.getTestMethod().orElseThrow().getName();
    }

    /** The global tensors of step {@code step}: a [8, 6] sliced on dim 0, a [4, 10] sliced on dim 1, a whole [5]. */
    static Map<String, HostTensor> globals(long step, int scale) {
        Random r = new Random(step);
        Map<String, HostTensor> g = new LinkedHashMap<>();
        g.put("a.weight", HostTensor.ofFloats(floats(r, 8 * 6 * scale), 8L * scale, 6));
        g.put("b.weight", HostTensor.ofFloats(floats(r, 4 * 10), 4, 10));
        g.put("exp_avg.b.weight", HostTensor.ofFloats(floats(r, 4 * 10), 4, 10));
        g.put("ln.bias", HostTensor.ofFloats(floats(r, 5), 5));
        return g;
    }

    static float[] floats(Random r, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = r.nextFloat();
        }
        return f;
    }

    /**
     * Rank r's pieces: tp = r % 2 holds half of a (dim 0) and of b (dim 1, as two ranges, like q/k/v), stage
     * r / 2 ... both stages hold everything here, so the second stage's pieces duplicate the first's (the
     * commit keeps one); ln.bias is written by rank 0 only.
     */
    static Map<String, List<CheckpointStore.Piece>> pieces(int rank, Map<String, HostTensor> g) {
        int tp = rank % 2;
        List<CheckpointStore.Piece> model = new ArrayList<>();
        long rows = g.get("a.weight").shape()[0];
        long[][] aRanges = {{tp * rows / 2, (tp + 1) * rows / 2}};
        model.add(new CheckpointStore.Piece("a.weight", g.get("a.weight").shape(), 0, aRanges,
                TensorPieces.cut(g.get("a.weight"), 0, aRanges)));
        long[][] bRanges = tp == 0 ? new long[][] {{0, 2}, {5, 7}} : new long[][] {{2, 5}, {7, 10}};
        model.add(new CheckpointStore.Piece("b.weight", new long[] {4, 10}, 1, bRanges,
                TensorPieces.cut(g.get("b.weight"), 1, bRanges)));
        if (rank == 0) {
            model.add(CheckpointStore.Piece.whole("ln.bias", g.get("ln.bias")));
        }
        List<CheckpointStore.Piece> opt = List.of(new CheckpointStore.Piece("exp_avg.b.weight", new long[] {4, 10}, 1,
                bRanges, TensorPieces.cut(g.get("exp_avg.b.weight"), 1, bRanges)));
        Map<String, List<CheckpointStore.Piece>> files = new LinkedHashMap<>();
        files.put(String.format("model-r%05d", rank), model);
        files.put(String.format("optimizer-r%05d", rank), opt);
        return files;
    }

    /** All ranks write in parallel (rank 0 also commits), as ShardedCheckpointer does. */
    static void save(CheckpointStore store, long step, int scale, int... dead) throws Exception {
        Map<String, HostTensor> g = globals(step, scale);
        Path staging = store.stagingDir(step, Long.toHexString(step * 7919 + 1));
        ExecutorService pool = Executors.newFixedThreadPool(WORLD);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int r = 0; r < WORLD; r++) {
                int rank = r;
                if (Arrays.stream(dead).anyMatch(d -> d == rank)) {
                    // died after writing a partial shard file, before its marker
                    fs.add(pool.submit(() -> {
                        hdfs.mkdirs(staging);
                        try (FSDataOutputStream out = hdfs.create(new Path(staging, "model-r0000" + rank + ".safetensors"))) {
                            out.write(new byte[1000]);
                        }
                        return null;
                    }));
                    continue;
                }
                fs.add(pool.submit(() -> {
                    store.writeShard(staging, rank, pieces(rank, g), rank == 0
                            ? Map.of("state.kryo", new byte[] {1, 2, (byte) step}, "tokenizer.json", "{}".getBytes())
                            : Map.of());
                    if (rank == 0) {
                        store.commitSharded(step, staging, LAYOUT, "state.kryo", dead.length > 0 ? 3000 : 60_000);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    throw (Exception) e.getCause();
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    static void assertStep(CheckpointStore store, long step, int scale) throws IOException {
        LoadedCheckpoint c = store.load(step);
        Map<String, HostTensor> want = globals(step, scale);
        assertThat(c.tensorFiles().keySet()).containsExactly("model", "optimizer");
        for (Map.Entry<String, HostTensor> e : want.entrySet()) {
            String group = e.getKey().startsWith("exp_avg") ? "optimizer" : "model";
            HostTensor got = c.tensorFiles().get(group).get(e.getKey());
            assertThat(got.contentEquals(e.getValue())).as("%s of step %d", e.getKey(), step).isTrue();
        }
        assertThat(c.blobFiles().get("state.kryo")).containsExactly(1, 2, (byte) step);
    }

    @Test
    @Order(1)
    void saveListLoad(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 0);
        save(store, 10, 1);
        save(store, 20, 1);
        assertThat(store.completeSteps()).containsExactly(10L, 20L);
        assertStep(store, 10, 1);
        assertStep(store, 20, 1);
        CheckpointManifest m = store.manifest(20);
        assertThat(m.sharded()).isTrue();
        assertThat(m.layout()).isEqualTo(LAYOUT);
        // duplicate pieces from the second stage are listed once; b.weight has one piece per tp rank
        CheckpointManifest.TensorEntry b = m.tensors().stream().filter(t -> t.name().equals("b.weight")).findFirst()
                .orElseThrow();
        assertThat(b.pieces()).hasSize(2);
        assertThat(b.pieces().get(1).ranges()).isEqualTo(new long[][] {{2, 5}, {7, 10}});
        // every file has a CRC32C; markers and staging are gone from the listing of checkpoints
        assertThat(m.files()).allSatisfy(f -> assertThat(f.crc32c()).matches("[0-9a-f]{8}"));
        assertThat(m.files()).extracting(CheckpointManifest.FileEntry::name).contains("model-r00003.safetensors",
                "optimizer-r00000.safetensors", "state.kryo");
        assertThat(store.verify(20)).isEmpty();
        // a reader that needs only b.weight reads only files holding it
        Map<String, HostTensor> one = store.assemble(20, m, "b.weight"::equals);
        assertThat(one.keySet()).containsExactly("b.weight");
        assertThat(names(store.checkpointsDir())).containsExactly("step-00000010", "step-00000020");
    }

    @Test
    @Order(2)
    void retentionKeepsTheLastCompleteCheckpointsOnly(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 2);
        save(store, 1, 1);
        save(store, 2, 1);
        // an incomplete step-3 (no manifest) is not a checkpoint: it neither counts nor is it kept as one
        hdfs.mkdirs(new Path(store.checkpointsDir(), "step-00000003"));
        save(store, 4, 1);
        save(store, 5, 1);
        assertThat(store.completeSteps()).containsExactly(4L, 5L);
        assertStep(store, 5, 1);
    }

    @Test
    @Order(3)
    void aWriterThatDiesBeforeTheCommitLeavesNoVisibleCheckpoint(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 0);
        save(store, 1, 1);
        // rank 2 wrote part of its shard and died: rank 0 waits for its marker, gives up, deletes the staging dir
        assertThatThrownBy(() -> save(store, 2, 1, 2)).isInstanceOf(IOException.class)
                .hasMessageContaining("rank 2 did not finish its shard of step 2");
        assertThat(store.completeSteps()).containsExactly(1L);
        assertThat(names(store.checkpointsDir())).containsExactly("step-00000001");
        assertStep(store, store.loadLatest().orElseThrow().step(), 1);

        // rank 0 itself dies after writing its shard, before committing: a staging dir stays, invisible
        Path staging = store.stagingDir(3, "abc");
        store.writeShard(staging, 0, pieces(0, globals(3, 1)), Map.of());
        assertThat(store.completeSteps()).containsExactly(1L);
        assertThat(store.loadLatest().orElseThrow().step()).isEqualTo(1);
        // the next successful save cleans it up
        save(store, 4, 1);
        assertThat(names(store.checkpointsDir())).containsExactly("step-00000001", "step-00000004");
    }

    @Test
    @Order(4)
    void aFlippedByteInAShardFallsBackToThePreviousCheckpointNamingTheFile(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 0);
        save(store, 1, 1);
        save(store, 2, 1);
        Path bad = new Path(store.directory(2), "model-r00001.safetensors");
        flipByte(bad, 0.8);
        assertThat(store.verify(1)).isEmpty();
        assertThat(store.verify(2)).singleElement().asString().contains("step-00000002/model-r00001.safetensors",
                "CRC32C mismatch");
        try (LogCapture log = new LogCapture(CheckpointStore.class)) {
            assertThat(store.loadLatest().orElseThrow().step()).isEqualTo(1);
            assertThat(log.warnings).singleElement().asString().contains("step-00000002/model-r00001.safetensors",
                    "CRC32C mismatch");
        }
        // only a reader of the bad file notices: ln.bias is in rank 0's file
        assertThat(store.assemble(2, store.manifest(2), "ln.bias"::equals)).containsOnlyKeys("ln.bias");
        assertThatThrownBy(() -> store.assemble(2, store.manifest(2), "a.weight"::equals))
                .isInstanceOf(CorruptCheckpointException.class).hasMessageContaining("model-r00001.safetensors");
    }

    @Test
    @Order(5)
    void aDataNodeStoppedDuringASaveWithReplicationTwo(TestInfo test) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir(test), conf, 0);
        int scale = 100_000; // a.weight: 800000 x 6 floats = 19 MB, several blocks in flight
        Path staging = store.stagingDir(7, Long.toHexString(7 * 7919 + 1));
        boolean[] during = new boolean[1];
        Thread killer = new Thread(() -> {
            try {
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (!hdfs.exists(new Path(staging, "model-r00000.safetensors"))
                        && !hdfs.exists(store.directory(7)) && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                during[0] = hdfs.exists(staging);
                cluster.stopDataNode(0); // while the ranks' shard files are being written
            } catch (InterruptedException | IOException e) {
                throw new IllegalStateException(e);
            }
        });
        killer.start();
        long t0 = System.nanoTime();
        save(store, 7, scale);
        killer.join();
        System.out.printf("save of step 7 with a DataNode stopped %s took %.1f s%n",
                during[0] ? "during the save" : "after the save (the killer thread was late)",
                (System.nanoTime() - t0) / 1e9);
        assertThat(cluster.getDataNodes()).hasSize(2);
        assertThat(store.completeSteps()).containsExactly(7L);
        assertThat(store.verify(7)).isEmpty();
        assertStep(store, 7, scale);
    }

    static List<String> names(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        for (FileStatus st : hdfs.listStatus(dir)) {
            out.add(st.getPath().getName());
        }
        out.sort(null);
        return out;
    }

    static void flipByte(Path file, double fraction) throws IOException {
        byte[] all;
        try (FSDataInputStream in = hdfs.open(file)) {
            all = in.readAllBytes();
        }
        int pos = (int) (all.length * fraction);
        all[pos] = (byte) ~all[pos];
        try (FSDataOutputStream out = hdfs.create(file, true)) {
            out.write(all);
        }
    }
}
