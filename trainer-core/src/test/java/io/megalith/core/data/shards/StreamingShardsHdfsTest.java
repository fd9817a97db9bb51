package io.megalith.core.data.shards;

import java.io.File;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** Streaming from a real in-process HDFS: positional reads of DFSInputStream, shared by threads. */
class StreamingShardsHdfsTest extends StreamingShardsContract {
    private static MiniDFSCluster cluster;
    private static Configuration conf;

    @BeforeAll
    static void startCluster() throws Exception {
        File base = new File("target/minidfs-" + StreamingShardsHdfsTest.class.getSimpleName()).getAbsoluteFile();
        FileUtil.fullyDelete(base);
        conf = new Configuration();
        conf.setInt("dfs.replication", 1);
        cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(1).build();
        cluster.waitActive();
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.shutdown();
        }
    }

    @Override
    String dir(String name) throws IOException {
        return cluster.getFileSystem().getUri() + "/prepared/" + name;
    }

    @Override
    Configuration conf() {
        return conf;
    }
}
