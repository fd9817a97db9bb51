package io.megalith.launcher.cli;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.ModelFamily;
import io.megalith.parallel.mesh.DeviceMesh;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code megalith train --dry-run}: the layout a config plans and what a rank will hold, computed without Spark,
 * libtorch or writing anything. The memory estimate counts fp32 parameters, gradients and AdamW's two moments as the
 * layout splits them (tensor and pipeline parallelism split the model; ZeRO 1/2/3 partition the optimizer state,
 * gradients and parameters over data parallelism), plus activations of one micro-batch by Megatron's per-layer count
 * (Korthikanti et al. 2022: s b h (34 + 5 a s / h) bytes at 16 bits, doubled for fp32).
 */
final class DryRun {
    /** Characters read to count a char tokenizer's vocabulary (the data is not tokenized here). */
    private static final int VOCAB_SAMPLE = 4 << 20;

    private DryRun() {}

    /** What one rank holds, in bytes, and the parameter count of the whole model. */
    record Estimate(long parameters, long vocab, String vocabFrom, long paramBytes, long gradBytes, long optimizerBytes,
            long activationBytes) {
        long totalBytes() {
            return paramBytes + gradBytes + optimizerBytes + activationBytes;
        }
    }

    static void print(MegalithConfig cfg, String source, PrintStream out) throws IOException {
        MegalithConfig.Parallel p = cfg.parallel();
        int world = p.worldSize();
        DeviceMesh.forWorld(world, p.dp(), p.tp(), p.pp(), p.ep()); // the mesh the ranks would build: checks the layout
        String where = !"local".equals(cfg.launch().master()) ? cfg.launch().master()
                : "Spark local[" + world + "] in this JVM";
        Estimate e = estimate(cfg);
        out.printf("megalith: dry run of %s (%s): configuration valid, its input files present%n", cfg.run().name(),
                source);
        out.printf("megalith: layout: world size %d = dp %d x tp %d x pp %d%s, ZeRO stage %d, %d worker(s) per rank, "
                + "on %s%n", world, p.dp(), p.tp(), p.pp(), p.ep() > 1 ? " (ep " + p.ep() + ")" : "", cfg.zero().stage(),
                cfg.runtime().workers(), where);
        out.printf("megalith: model: %s, %,d parameters (vocabulary %,d, %s)%n", cfg.model().family(), e.parameters(),
                e.vocab(), e.vocabFrom());
        out.printf("megalith: memory per rank (estimate, fp32): parameters %s, gradients %s, AdamW state %s, "
                + "activations %s; total %s%n", mib(e.paramBytes()), mib(e.gradBytes()), mib(e.optimizerBytes()),
                mib(e.activationBytes()), mib(e.totalBytes()));
        out.printf("megalith: dry run: nothing started, nothing written (run.dir %s)%n", cfg.run().dir());
    }

    static Estimate estimate(MegalithConfig cfg) throws IOException {
        MegalithConfig.Model m = cfg.model();
        MegalithConfig.Parallel p = cfg.parallel();
        long[] vocab = new long[1];
        String from = vocab(cfg, vocab);
        long v = vocab[0];
        long c = m.nEmbd();
        long t = m.blockSize();
        ModelFamily family = ModelFamilies.of(cfg);
        long params = family.parameterCount(cfg, v);
        int layers = family.layers(m);
        // a rank holds its tensor- and pipeline-parallel share; ZeRO partitions over the data-parallel ranks
        long shard = ceil(params, (long) p.tp() * p.pp());
        int stage = cfg.zero().stage();
        long onRank = stage >= 3 ? ceil(shard, p.dp()) : shard;
        long grads = stage >= 2 ? ceil(shard, p.dp()) : shard;
        long adam = 2 * (stage >= 1 ? ceil(shard, p.dp()) : shard);
        long microBatch = Math.max(1, cfg.train().batchSize() / p.dp());
        long heads = m.nHead();
        long perLayer = t * microBatch * c * (34 + 5 * heads * t / Math.max(1, c)) * 2 / p.tp();
        long activations = perLayer * ceil(layers, p.pp());
        return new Estimate(params, v, from, 4 * onRank, 4 * grads, 4 * adam, activations);
    }

    /** The vocabulary size and where it came from. */
    private static String vocab(MegalithConfig cfg, long[] out) throws IOException {
        MegalithConfig.Data d = cfg.data();
        if (cfg.model().vocabSize() > 0) {
            out[0] = cfg.model().vocabSize();
            return "model.vocab_size";
        }
        if ("addition".equals(d.task()) || "reverse".equals(d.task())) {
            out[0] = 16;
            return "digits and symbols of data.task " + d.task() + ", about";
        }
        if ("bpe".equals(d.tokenizer())) {
            out[0] = d.bpeVocabSize();
            return "data.bpe_vocab_size";
        }
        Path file = d.path() == null || d.path().isBlank() || d.path().contains("://") ? null : Path.of(d.path());
        if (file != null && Files.isRegularFile(file)) {
            byte[] head;
            try (var in = Files.newInputStream(file)) {
                head = in.readNBytes(VOCAB_SAMPLE);
            }
            out[0] = new String(head, StandardCharsets.UTF_8).codePoints().distinct().count();
            return Files.size(file) <= VOCAB_SAMPLE ? "the characters of data.path"
                    : "the characters of data.path's first " + (VOCAB_SAMPLE >> 20) + " MiB";
        }
        out[0] = 256;
        return "assumed: the base's or the data's tokenizer decides";
    }

    private static long ceil(long a, long b) {
        return (a + b - 1) / b;
    }

    private static String mib(long bytes) {
        return String.format("%.1f MiB", bytes / 1048576.0);
    }
}
