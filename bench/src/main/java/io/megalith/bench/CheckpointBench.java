package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.Trainer;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * Checkpoints on an in-process HDFS (MiniDFSCluster): (1) write throughput of a synchronous sharded save of a
 * real model + AdamW state against a raw HDFS write of the same number of bytes (one stream, 1 MiB writes,
 * hsync at the end), medians after warm-up; (2) training with a checkpoint every few steps, asynchronous vs
 * synchronous vs none: step time, time the training thread spent per save, and the share of the save hidden.
 *
 * <pre>  java -cp ... io.megalith.bench.CheckpointBench [rounds] [dataNodes] [replication]</pre>
 */
public final class CheckpointBench {
    private CheckpointBench() {}

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int dataNodes = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        int replication = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        File base = new File("target/minidfs-bench").getAbsoluteFile();
        FileUtil.fullyDelete(base);
        Configuration conf = new Configuration();
        conf.setInt("dfs.replication", replication);
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(dataNodes).build();
        try {
            cluster.waitActive();
            FileSystem hdfs = cluster.getFileSystem();
            String uri = hdfs.getUri().toString();
            System.out.printf("MiniDFSCluster: %d DataNodes, replication %d, %d cores%n", dataNodes, replication,
                    Runtime.getRuntime().availableProcessors());
            Torch.load(1);
            Torch.enterThread();
            JniUtils.setNumThreads(1);
            throughput(hdfs, uri, conf, rounds);
            hidden(uri, conf, rounds);
        } finally {
            cluster.shutdown();
        }
    }

    static MegalithConfig config() {
        return ConfigLoader.fromYaml("""
                seed: 1
                model: {n_layer: 4, n_head: 8, n_embd: 256, block_size: 64, dropout: 0.0, bias: false}
                data: {task: text, path: bench, tokenizer: char}
                train: {max_steps: 1000, batch_size: 8, grad_accum: 1, lr: 1.0e-3, warmup_steps: 2}
                runtime: {threads: 1}
                """, List.of(), "checkpoint bench");
    }

    /** A one-rank trainer of the bench model over some text. */
    static final class Rank implements AutoCloseable {
        final NDManager manager = Torch.newManager();
        final Trainer trainer;
        final Gpt gpt;
        final MegalithConfig cfg = config();

        Rank() {
            StringBuilder sb = new StringBuilder();
            Random r = new Random(3);
            while (sb.length() < 200_000) {
                sb.append((char) ('a' + r.nextInt(26))).append(r.nextInt(5) == 0 ? " " : "");
            }
            CharTokenizer tok = CharTokenizer.fit(sb.toString());
            TextData data = new TextData(tok, tok.encode(sb.toString()), 0.1, cfg.model().blockSize(), cfg.seed());
            gpt = new Gpt(GptConfig.from(cfg.model(), tok.vocabSize()));
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager, new SingleRankCommunicator());
            gpt.initConstants(manager);
            trainer = new Trainer(cfg, new GptParts(GptPlan.apply(gpt, Placement.SINGLE), data), params, manager, RankGroups.single());
        }

        ShardedCheckpointer checkpointer(String runDir, Configuration conf, boolean async) throws Exception {
            return new ShardedCheckpointer(new CheckpointStore(runDir, conf, 2), RankGroups.single(), trainer, gpt, 1, 0,
                    async, 60_000);
        }

        Map<String, byte[]> blobs(long step) {
            Map<String, byte[]> b = new LinkedHashMap<>();
            b.put(RunStateCodec.FILE, RunStateCodec.encode(new RunState(RunState.FORMAT_VERSION, step, cfg.seed(),
                    trainer.optimizer().stepCount(), step, gpt.config(), "char", "")));
            b.put(ShardedCheckpointer.TOKENIZER_FILE, "{}".getBytes());
            return b;
        }

        @Override
        public void close() {
            trainer.close();
            manager.close();
        }
    }

    static void throughput(FileSystem hdfs, String uri, Configuration conf, int rounds) throws Exception {
        try (Rank rank = new Rank(); ShardedCheckpointer ckpt = rank.checkpointer(uri + "/bench/sync", conf, false)) {
            rank.trainer.step(0); // optimizer state exists
            double[] save = new double[rounds];
            double[] raw = new double[rounds];
            long bytes = 0;
            for (int i = -2; i < rounds; i++) { // 2 warm-up rounds
                long t0 = System.nanoTime();
                ckpt.save(i + 10, rank.blobs(i + 10));
                double s = (System.nanoTime() - t0) / 1e9;
                bytes = ckpt.lastTiming().bytes();
                long r0 = System.nanoTime();
                rawWrite(hdfs, new Path(uri + "/bench/raw-" + (i + 10)), bytes);
                double r = (System.nanoTime() - r0) / 1e9;
                hdfs.delete(new Path(uri + "/bench/raw-" + (i + 10)), true);
                if (i >= 0) {
                    save[i] = s;
                    raw[i] = r;
                }
            }
            double ms = median(save);
            double mr = median(raw);
            System.out.printf("%n| write of %.1f MiB (model + AdamW state + state) | median | MB/s |%n|---|---:|---:|%n",
                    bytes / 1048576.0);
            System.out.printf("| sharded checkpoint save (snapshot, CRC32C, manifest, rename, retention) | %.0f ms | %.0f |%n",
                    ms * 1000, bytes / ms / 1e6);
            System.out.printf("| raw HDFS write of the same bytes (one file, hsync) | %.0f ms | %.0f |%n", mr * 1000,
                    bytes / mr / 1e6);
            System.out.printf("checkpoint/raw throughput: %.2f  (save %s s, raw %s s)%n", mr / ms, Arrays.toString(save),
                    Arrays.toString(raw));
        }
    }

    static void rawWrite(FileSystem hdfs, Path p, long bytes) throws Exception {
        byte[] buf = new byte[1 << 20];
        new Random(1).nextBytes(buf);
        try (FSDataOutputStream out = hdfs.create(p, true)) {
            for (long left = bytes; left > 0; left -= buf.length) {
                out.write(buf, 0, (int) Math.min(buf.length, left));
            }
            out.hsync();
        }
    }

    /**
     * Steps with a checkpoint every {@code every} steps: none, synchronous, asynchronous, interleaved and repeated
     * {@code reps} times (the machine is shared: medians over repetitions).
     */
    static void hidden(String uri, Configuration conf, int rounds) throws Exception {
        int every = 4;
        int steps = every * 5 + 2;
        int reps = Math.max(3, rounds / 2);
        List<String> modes = List.of("none", "sync", "async");
        Map<String, List<Double>> runs = new LinkedHashMap<>();
        Map<String, List<Double>> stepMedians = new LinkedHashMap<>();
        Map<String, List<ShardedCheckpointer.Timing>> all = new LinkedHashMap<>();
        for (int rep = 0; rep < reps; rep++) {
            for (String mode : modes) {
                try (Rank rank = new Rank(); ShardedCheckpointer ckpt = rank.checkpointer(uri + "/bench/" + mode + rep,
                        conf, mode.equals("async"))) {
                    rank.trainer.step(0);
                    rank.trainer.step(1);
                    List<Double> stepMs = new ArrayList<>();
                    List<ShardedCheckpointer.Timing> timings = all.computeIfAbsent(mode, m -> new ArrayList<>());
                    long t0 = System.nanoTime();
                    for (int s = 2; s < steps; s++) {
                        long a = System.nanoTime();
                        rank.trainer.step(s);
                        if (!mode.equals("none") && (s + 1) % every == 0) {
                            ckpt.save(s + 1, rank.blobs(s + 1));
                        }
                        stepMs.add((System.nanoTime() - a) / 1e6);
                        record(ckpt, timings);
                    }
                    ckpt.awaitPending();
                    record(ckpt, timings);
                    runs.computeIfAbsent(mode, m -> new ArrayList<>()).add((System.nanoTime() - t0) / 1e6);
                    stepMedians.computeIfAbsent(mode, m -> new ArrayList<>())
                            .add(median(stepMs.stream().mapToDouble(Double::doubleValue).toArray()));
                }
            }
        }
        System.out.printf("%n%d steps with a checkpoint every %d (after 2 warm-up steps), each mode %d times, "
                + "interleaved: medians%n", steps - 2, every, reps);
        System.out.println("| mode | run time | median step | cost vs none | snapshot on the training thread "
                + "| waited for the previous save | write per save | hidden (write not waited for) |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
        double none = median(runs.get("none").stream().mapToDouble(Double::doubleValue).toArray());
        double sync = median(runs.get("sync").stream().mapToDouble(Double::doubleValue).toArray());
        for (String mode : modes) {
            double run = median(runs.get(mode).stream().mapToDouble(Double::doubleValue).toArray());
            List<ShardedCheckpointer.Timing> timings = all.get(mode);
            String cost = mode.equals("none") ? "" : String.format("%+.0f ms", run - none);
            if (mode.equals("async") && sync > none) {
                cost += String.format(" (%.0f%% of sync's)", 100 * (run - none) / (sync - none));
            }
            System.out.printf("| %s | %.0f ms | %.0f ms | %s | %s | %s | %s | %s |%n", mode, run,
                    median(stepMedians.get(mode).stream().mapToDouble(Double::doubleValue).toArray()), cost,
                    col(timings, ShardedCheckpointer.Timing::blockingMs, " ms"),
                    col(timings, ShardedCheckpointer.Timing::waitedMs, " ms"),
                    col(timings, ShardedCheckpointer.Timing::writeMs, " ms"),
                    timings.isEmpty() ? "" : String.format("%.0f%%", 100 * median(timings.stream()
                            .mapToDouble(ShardedCheckpointer.Timing::hiddenFraction).toArray())));
            System.out.printf("  %s run times: %s%n", mode, runs.get(mode));
        }
    }

    static void record(ShardedCheckpointer ckpt, List<ShardedCheckpointer.Timing> timings) {
        ShardedCheckpointer.Timing t = ckpt.lastTiming();
        if (t != null && (timings.isEmpty() || timings.get(timings.size() - 1).step() != t.step())) {
            timings.add(t);
        }
    }

    static String col(List<ShardedCheckpointer.Timing> timings,
            ToDoubleFunction<ShardedCheckpointer.Timing> f, String unit) {
        return timings.isEmpty() ? "" : String.format("%.0f%s", median(timings.stream().mapToDouble(f).toArray()), unit);
    }

    static double median(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
