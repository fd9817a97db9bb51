package io.megalith.core.train;

import static io.megalith.core.train.TinyRuns.CONF;
import static io.megalith.core.train.TinyRuns.metrics;
import static io.megalith.core.train.TinyRuns.series;
import static io.megalith.core.train.TinyRuns.train;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.config.MegalithConfig;
import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole run with run.dir on HDFS (MiniDFSCluster): asynchronous sharded checkpoints, retention, a "crash"
 * after step 7 and a resume from step 4 that continues exactly like an uninterrupted local run.
 */
class HdfsResumeTest {
    private static MiniDFSCluster cluster;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() throws Exception {
        File base = new File("target/minidfs-" + HdfsResumeTest.class.getSimpleName()).getAbsoluteFile();
        FileUtil.fullyDelete(base);
        Configuration conf = new Configuration();
        conf.setInt("dfs.replication", 1);
        cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(1).build();
        cluster.waitActive();
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.shutdown();
        }
    }

    @Test
    void resumeOnHdfsContinuesLikeAnUninterruptedRun() throws Exception {
        MegalithConfig local = TinyRuns.addition(tmp.resolve("local"), "checkpoint.keep_last=2");
        String uri = cluster.getFileSystem().getUri() + "/runs/addition";
        MegalithConfig onHdfs = TinyRuns.addition(tmp.resolve("unused"), "run.dir=" + uri, "checkpoint.keep_last=2");
        assertThat(onHdfs.checkpoint().async()).isTrue();

        assertThat(train(local, Long.MAX_VALUE)).isZero();
        assertThat(train(onHdfs, 7)).isZero();
        CheckpointStore store = new CheckpointStore(uri, CONF, 0);
        assertThat(store.completeSteps()).containsExactly(4L);
        assertThat(store.manifest(4).sharded()).isTrue();

        assertThat(train(onHdfs, Long.MAX_VALUE)).isEqualTo(4);
        assertThat(store.completeSteps()).as("keep_last 2").containsExactly(8L, 12L);
        assertThat(store.verify(12)).isEmpty();
        // saves at 4, 8, 12: the save of step 8 waited for step 4's, so steps 9.. report it (the metrics line
        // of a step is written before that step's save)
        Map<String, Object> last = metrics(local).get(metrics(local).size() - 1);
        assertThat(((Number) last.get("ckpt_hidden_frac")).doubleValue()).isBetween(0.0, 1.0);
        assertThat(((Number) last.get("ckpt_blocking_ms")).doubleValue()).isPositive();
        List<Double> want = series(metrics(local), "loss");
        List<Double> got = series(metrics(onHdfs), "loss");
        assertThat(got).hasSameSizeAs(want);
        for (int i = 0; i < want.size(); i++) {
            assertThat(Double.doubleToRawLongBits(got.get(i))).as("loss of step %d", i + 1)
                    .isEqualTo(Double.doubleToRawLongBits(want.get(i)));
        }
    }
}
