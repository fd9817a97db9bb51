package io.megalith.core.train.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reporters on real HDFS, where append and rename-over-an-existing-file differ from the local FS. */
class HdfsReportTest {
    @TempDir
    static Path base;

    private static MiniDFSCluster cluster;
    private static Configuration conf;

    @BeforeAll
    static void startHdfs() throws IOException {
        conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.toString());
        cluster = new MiniDFSCluster.Builder(conf, new File(base.toString())).numDataNodes(1).build();
        cluster.waitActive();
    }

    @AfterAll
    static void stopHdfs() {
        if (cluster != null) {
            cluster.shutdown();
        }
    }

    private static Map<String, Object> rec(long step, double loss) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("loss", loss);
        return m;
    }

    @Test
    void metricsResumeAndChartReplaceWorkOnHdfs() throws IOException {
        String runDir = cluster.getURI() + "/runs/tiny";
        try (MetricsLog log = new MetricsLog(runDir, conf)) {
            for (long step = 0; step < 10; step++) {
                log.write(rec(step, 10.0 - step));
            }
            // hflush makes the lines visible to other readers while the file is still open.
            assertThat(MetricsLog.read(runDir, conf)).hasSize(10);
        }
        try (MetricsLog log = MetricsLog.openForResume(runDir, conf, 4)) {
            log.write(rec(4, 42.0));
        }
        List<Map<String, Object>> back = MetricsLog.read(runDir, conf);
        assertThat(back.stream().map(r -> r.get("step"))).containsExactly(0L, 1L, 2L, 3L, 4L);
        assertThat(back.get(4).get("loss")).isEqualTo(42.0);

        LossChart.writeToRunDir(runDir, conf, "tiny", back);
        LossChart.writeToRunDir(runDir, conf, "tiny", back);

        FileSystem fs = cluster.getFileSystem();
        FileStatus[] files = fs.listStatus(new org.apache.hadoop.fs.Path("/runs/tiny"));
        assertThat(files).extracting(f -> f.getPath().getName())
                .containsExactlyInAnyOrder(MetricsLog.FILE_NAME, LossChart.FILE_NAME);
        assertThat(fs.getFileStatus(new org.apache.hadoop.fs.Path("/runs/tiny/loss.png")).getLen())
                .isGreaterThan(1000);
    }
}
