package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.quantize.HalfFloats;
import io.megalith.core.quantize.Int8Rows;
import io.megalith.core.quantize.Int8Weights;
import io.megalith.core.tensor.HostTensor;
import io.megalith.launcher.testing.CliRun;
import java.io.File;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code megalith ckpt list|inspect|verify|export} on hdfs:// paths (a MiniDFSCluster), and
 * {@code checkpoint.init_from} importing the exported weights into a fresh run.
 */
class CkptCommandTest {
    static final String TINY = """
            seed: 3
            run: {dir: runs/never-used, name: ckpt-test}
            model: {n_layer: 1, n_head: 2, n_embd: 32, block_size: 8, dropout: 0.0}
            data: {task: addition, digits: 2, held_out_fraction: 0.1, eval_pairs: 10}
            train: {max_steps: 20, batch_size: 8, warmup_steps: 2, eval_every: 10, eval_batches: 2}
            checkpoint: {every: 10, keep_last: 0}
            runtime: {threads: 1}
            launch: {master: inprocess}
            """;

    @TempDir
    static java.nio.file.Path tmp;
    private static MiniDFSCluster cluster;
    private static FileSystem hdfs;
    private static String run;
    private static java.nio.file.Path config;

    static CliRun megalith(String... args) {
        return CliRun.of(args);
    }

    @BeforeAll
    static void trainAndCopyToHdfs() throws Exception {
        File base = new File("target/minidfs-" + CkptCommandTest.class.getSimpleName()).getAbsoluteFile();
        FileUtil.fullyDelete(base);
        Configuration conf = new Configuration();
        conf.setInt("dfs.replication", 1);
        cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(1).build();
        cluster.waitActive();
        hdfs = cluster.getFileSystem();
        config = tmp.resolve("tiny.yaml");
        Files.writeString(config, TINY);
        java.nio.file.Path local = tmp.resolve("run");
        CliRun train = megalith("train", "--config", config.toString(), "--set", "run.dir=" + local);
        assertThat(train.exit()).as(train.err()).isZero();
        run = hdfs.getUri() + "/runs/a";
        hdfs.mkdirs(new Path(run));
        hdfs.copyFromLocalFile(new Path(local.resolve("checkpoints").toUri()), new Path(run));
        hdfs.copyFromLocalFile(new Path(local.resolve("metrics.jsonl").toUri()), new Path(run));
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.shutdown();
        }
    }

    @Test
    void listInspectVerifyExportAndInitFrom() throws Exception {
        CliRun list = megalith("ckpt", "list", run);
        assertThat(list.exit()).isZero();
        assertThat(list.out()).contains("2 checkpoint directories").containsPattern("step 10 +complete +format 2")
                .containsPattern("step 20 +complete").contains("dp=1 tp=1 pp=1");

        CliRun inspect = megalith("ckpt", "inspect", run + "/checkpoints/step-00000020");
        assertThat(inspect.exit()).as(inspect.err()).isZero();
        assertThat(inspect.out()).contains("step 20, format 2").contains("state: step 20, seed 3")
                .contains("model-r00000.safetensors").contains("wte.weight").contains("exp_avg_sq.wte.weight");

        CliRun ok = megalith("ckpt", "verify", run);
        assertThat(ok.exit()).isZero();
        assertThat(ok.out()).contains("step 10: OK", "step 20: OK", "2 of 2 checkpoint(s) verified");

        // export the newest: one file, and Hugging Face style shards with an index
        String single = hdfs.getUri() + "/export/single";
        assertThat(megalith("ckpt", "export", run, "--out", single).exit()).isZero();
        assertThat(hdfs.exists(new Path(single, "model.safetensors"))).isTrue();
        // int8 (a scale per output channel) and bf16 storage: every weight back within half a step of its fp32 value
        Map<String, HostTensor> fp32 = SafetensorsWeights.read(single, hdfs.getConf());
        String int8File = hdfs.getUri() + "/export/int8/model.safetensors";
        CliRun int8 = megalith("ckpt", "export", run, "--out", int8File, "--dtype", "int8");
        assertThat(int8.exit()).as(int8.err()).isZero();
        assertThat(int8.out()).containsPattern("int8: [0-9,]+ bytes of weights, 0\\.[0-9]+x the [0-9,]+ of fp32");
        Map<String, HostTensor> quantized = SafetensorsWeights.read(int8File, hdfs.getConf());
        assertThat(quantized.get("wte.weight").dtype()).isEqualTo(HostTensor.DType.I8);
        Map<String, Int8Rows> matrices = Int8Weights.matrices(quantized);
        Map<String, HostTensor> dequantized = Int8Weights.dequantize(quantized);
        assertThat(dequantized.keySet()).isEqualTo(fp32.keySet());
        for (Map.Entry<String, Int8Rows> e : matrices.entrySet()) {
            float[] a = fp32.get(e.getKey()).toFloats();
            float[] b = dequantized.get(e.getKey()).toFloats();
            int cols = e.getValue().cols();
            for (int i = 0; i < a.length; i++) {
                assertThat((double) Math.abs(a[i] - b[i])).as(e.getKey())
                        .isLessThanOrEqualTo(e.getValue().scale()[i / cols] / 2 * (1 + 1e-5));
            }
        }
        String bf16File = hdfs.getUri() + "/export/bf16.safetensors";
        assertThat(megalith("ckpt", "export", run, "--out", bf16File, "--dtype", "bf16").exit()).isZero();
        HostTensor bf16 = SafetensorsWeights.read(bf16File, hdfs.getConf()).get("wte.weight");
        assertThat(bf16.dtype()).isEqualTo(HostTensor.DType.BF16);
        float[] widened = HalfFloats.widen(bf16).toFloats();
        float[] wte = fp32.get("wte.weight").toFloats();
        for (int i = 0; i < wte.length; i++) {
            assertThat((double) Math.abs(widened[i] - wte[i])).isLessThanOrEqualTo(Math.abs(wte[i]) * 0x1p-8);
        }
        // generating from exported weights: the Java decoder on the fp32 file writes what libtorch writes from the
        // checkpoint, greedy and sampled (same draws), past block_size (8) too; and it runs from the int8 file
        String local = tmp.resolve("run").toString();
        for (String[] sampling : new String[][] {{"-t", "0"}, {"-t", "1.0", "--seed", "7", "--samples", "2"}}) {
            List<String> common = new java.util.ArrayList<>(List.of("generate", "--run", local, "--prompt", "1+2=",
                    "-n", "10"));
            common.addAll(List.of(sampling));
            CliRun torch = megalith(common.toArray(String[]::new));
            common.addAll(List.of("--weights", single));
            CliRun java = megalith(common.toArray(String[]::new));
            assertThat(torch.exit()).as(torch.err()).isZero();
            assertThat(java.exit()).as(java.err()).isZero();
            assertThat(java.out()).contains("generating from " + single);
            assertThat(java.out().replaceAll("megalith: generating from .*\\n", "")).isEqualTo(torch.out());
        }
        CliRun fromInt8 = megalith("generate", "--run", local, "--prompt", "1+2=", "-n", "10", "-t", "0",
                "--weights", int8File);
        assertThat(fromInt8.exit()).as(fromInt8.err()).isZero();
        assertThat(fromInt8.out()).contains("1+2=");

        CliRun badDtype = megalith("ckpt", "export", run, "--out", hdfs.getUri() + "/export/never", "--dtype", "int4");
        assertThat(badDtype.exit()).isNotZero();
        assertThat(badDtype.err()).contains("--dtype: int4 is not one of f32, int8, f16, bf16");
        assertThat(hdfs.exists(new Path(hdfs.getUri() + "/export/never"))).isFalse();

        String sharded = hdfs.getUri() + "/export/sharded";
        CliRun export = megalith("ckpt", "export", run, "--step", "20", "--out", sharded, "--max-shard-mb", "0.02");
        assertThat(export.exit()).as(export.err()).isZero();
        FileStatus[] files = hdfs.listStatus(new Path(sharded));
        assertThat(files.length).isGreaterThan(2);
        JsonNode index;
        try (FSDataInputStream in = hdfs.open(new Path(sharded, "model.safetensors.index.json"))) {
            index = new ObjectMapper().readTree(in);
        }
        int n = files.length - 1;
        assertThat(index.get("weight_map").get("wte.weight").asText()).matches("model-0000\\d-of-0000" + n
                + "\\.safetensors");
        assertThat(index.get("metadata").get("total_size").asLong()).isPositive();

        // a fresh run from the exported weights: its step-0 evaluation is the source run's step-20 one
        java.nio.file.Path fresh = tmp.resolve("fresh");
        CliRun init = megalith("train", "--config", config.toString(), "--set", "run.dir=" + fresh, "--set",
                "checkpoint.init_from=" + sharded, "--set", "train.max_steps=2");
        assertThat(init.exit()).as(init.err()).isZero();
        List<String> sourceMetrics = Files.readAllLines(tmp.resolve("run").resolve("metrics.jsonl"));
        double source = valLoss(sourceMetrics, 20);
        double started = valLoss(Files.readAllLines(fresh.resolve("metrics.jsonl")), 0);
        assertThat(started).isCloseTo(source, Offset.offset(1e-6));

        // a model of another shape: a clear error naming a tensor
        CliRun mismatch = megalith("train", "--config", config.toString(), "--set", "run.dir=" + tmp.resolve("bad"),
                "--set", "checkpoint.init_from=" + single, "--set", "model.n_embd=16");
        assertThat(mismatch.exit()).isNotZero();
        assertThat(mismatch.err()).contains("checkpoint.init_from").containsPattern("tensor [a-z_0-9.]+ is F32\\[");

        // a flipped byte: verify names the file and fails
        Path shard = new Path(run + "/checkpoints/step-00000010/model-r00000.safetensors");
        byte[] all;
        try (FSDataInputStream in = hdfs.open(shard)) {
            all = in.readAllBytes();
        }
        all[all.length / 2] ^= 0x10;
        try (FSDataOutputStream out = hdfs.create(shard, true)) {
            out.write(all);
        }
        CliRun bad = megalith("ckpt", "verify", run);
        assertThat(bad.exit()).isEqualTo(1);
        assertThat(bad.out()).contains("step 10: BAD", "step-00000010/model-r00000.safetensors", "CRC32C mismatch",
                "step 20: OK", "1 of 2");
    }

    static double valLoss(List<String> metrics, long step) throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (String line : metrics) {
            JsonNode r = json.readTree(line);
            if (r.get("step").asLong() == step && r.has("val_loss")) {
                return r.get("val_loss").asDouble();
            }
        }
        throw new AssertionError("no val_loss at step " + step);
    }
}
