package io.megalith.launcher.data;

import static io.megalith.launcher.data.PrepFixtures.allTokens;
import static io.megalith.launcher.data.PrepFixtures.config;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.shards.ShardedTextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.launcher.spark.LocalSpark;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The same preparation with input and output on an in-process HDFS: one code path for file:// and hdfs://. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DataPreparationHdfsTest {
    private MiniDFSCluster cluster;
    private FileSystem hdfs;
    private LocalSpark spark;
    private Configuration conf;

    @BeforeAll
    void start() throws Exception {
        File base = new File("target/minidfs-" + getClass().getSimpleName()).getAbsoluteFile();
        FileUtil.fullyDelete(base);
        Configuration c = new Configuration();
        c.setInt("dfs.replication", 1);
        cluster = new MiniDFSCluster.Builder(c, base).numDataNodes(1).build();
        cluster.waitActive();
        hdfs = cluster.getFileSystem();
        spark = LocalSpark.start(2);
        conf = spark.session().sparkContext().hadoopConfiguration();
        conf.setInt("dfs.replication", 1); // one DataNode
    }

    @AfterAll
    void stop() {
        if (spark != null) {
            spark.close();
        }
        if (cluster != null) {
            cluster.shutdown();
        }
    }

    private String write(String path, String content) throws Exception {
        Path p = new Path(path);
        try (FSDataOutputStream out = hdfs.create(p, true)) {
            out.write(content.getBytes(StandardCharsets.UTF_8));
        }
        return hdfs.makeQualified(p).toString();
    }

    @Test
    void textOnHdfsIsPreparedOnHdfsReusedAndReadByPosition() throws Exception {
        String a = PrepFixtures.text(1500, 11);
        String b = PrepFixtures.text(700, 12);
        write("/corpus/part-a.txt", a);
        write("/corpus/part-b.txt", b);
        String input = hdfs.getUri() + "/corpus";
        String run = hdfs.getUri() + "/runs/hdfs";
        MegalithConfig cfg = config(input, run);

        DataPreparation.Result r = new DataPreparation(cfg, spark.session()).minPartitions(4)
                .console(new PrepFixtures.Console().out).run();
        assertThat(r.dir()).startsWith("hdfs://").endsWith("/runs/hdfs/data");
        assertThat(r.shards()).isGreaterThanOrEqualTo(4);
        String text = a + b;
        CharTokenizer tok = CharTokenizer.fit(text);
        assertThat(allTokens(r.dir(), conf)).containsExactly(tok.encode(text));
        FileStatus[] files = hdfs.listStatus(new Path(run + "/data"));
        assertThat(Arrays.stream(files).map(f -> f.getPath().getName()))
                .contains("index.json", "tokenizer.json", "tokens-00000.bin")
                .allMatch(n -> n.equals("index.json") || n.equals("tokenizer.json") || n.matches("tokens-\\d{5}\\.bin"));
        assertThat(hdfs.listStatus(new Path(run))).hasSize(1); // the temporary is gone

        long indexTime = hdfs.getFileStatus(new Path(run + "/data/index.json")).getModificationTime();
        DataPreparation.Result again = new DataPreparation(cfg, spark.session()).console(new PrepFixtures.Console().out)
                .run();
        assertThat(again.reused()).isTrue();
        assertThat(hdfs.getFileStatus(new Path(run + "/data/index.json")).getModificationTime()).isEqualTo(indexTime);

        TextData reference = new TextData(tok, tok.encode(text), 0.1, 48, 3);
        try (ShardedTextData sharded = ShardedTextData.open(DataPreparation.prepare(cfg, spark.session()), conf, 0.1,
                48, 3)) {
            for (long step = 0; step < 30; step++) {
                Batch x = reference.train(step, 0, 4);
                Batch y = sharded.train(step, 0, 4);
                assertThat(y.inputs()).containsExactly(x.inputs());
                assertThat(y.targets()).containsExactly(x.targets());
            }
        }
    }
}
