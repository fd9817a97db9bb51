package io.megalith.core.train;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.train.report.MetricsLog;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;

/** Tiny, fast run configurations and helpers shared by the training tests. */
public final class TinyRuns {
    public static final Configuration CONF = new Configuration();
    /** Console output of runs under test: discarded. */
    public static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    private TinyRuns() {}

    /** A 2-digit addition run: 1 layer, 32 wide, context 8, batch 4 x grad_accum 2, dropout 0.1. */
    public static MegalithConfig addition(Path runDir, String... overrides) {
        String yaml = """
                seed: 7
                run: {dir: "%s", name: tiny-addition}
                model: {n_layer: 1, n_head: 2, n_embd: 32, block_size: 8, dropout: 0.1}
                data: {task: addition, digits: 2, held_out_fraction: 0.1, eval_pairs: 16}
                train: {max_steps: 12, batch_size: 4, grad_accum: 2, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 2,
                        eval_every: 4, eval_batches: 2}
                checkpoint: {every: 4, keep_last: 0}
                runtime: {threads: 1}
                generate: {max_new_tokens: 8, samples: 1}
                """.formatted(runDir);
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "tiny addition");
    }

    /** A char-level text run on {@code textFile}: 2 layers, 32 wide, 4 heads, context 16, dropout 0.1. */
    public static MegalithConfig text(Path runDir, Path textFile, String... overrides) {
        String yaml = """
                seed: 11
                run: {dir: "%s", name: tiny-text}
                model: {n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.1}
                data: {task: text, path: "%s", tokenizer: char, val_fraction: 0.1}
                train: {max_steps: 12, batch_size: 4, grad_accum: 2, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 2,
                        eval_every: 4, eval_batches: 2}
                checkpoint: {every: 4, keep_last: 0}
                runtime: {threads: 1}
                generate: {prompt: "The ", max_new_tokens: 8, samples: 1, temperature: 0.8, top_k: 10}
                """.formatted(runDir, textFile);
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "tiny text");
    }

    /** Writes a few KB of deterministic pseudo-English to {@code dir/input.txt}. */
    public static Path writeText(Path dir, int chars) throws IOException {
        String[] words = {"the", "the", "and", "of", "to", "a", "in", "king", "queen", "castle", "river", "morning",
            "evening", "he", "she", "was", "is", "not", "with", "for", "my", "lord", "good", "night"};
        Random rnd = new Random(42);
        StringBuilder sb = new StringBuilder();
        while (sb.length() < chars) {
            int n = 3 + rnd.nextInt(8);
            for (int i = 0; i < n; i++) {
                double u = rnd.nextDouble();
                String w = words[(int) (u * u * words.length)];
                sb.append(i == 0 ? Character.toUpperCase(w.charAt(0)) + w.substring(1) : w);
                sb.append(i == n - 1 ? (rnd.nextBoolean() ? ".\n" : ". ") : " ");
            }
        }
        Path file = dir.resolve("input.txt");
        Files.writeString(file, sb);
        return file;
    }

    /** Runs a fresh TrainingRun instance on {@code cfg} until {@code stopAt} steps; returns its start step. */
    public static long train(MegalithConfig cfg, long stopAt) throws IOException {
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, CONF, QUIET)) {
            run.run(stopAt);
            return run.startStep();
        }
    }

    public static List<Map<String, Object>> metrics(MegalithConfig cfg) throws IOException {
        return MetricsLog.read(cfg.run().dir(), CONF);
    }

    /** {@code key} of the training-step records (step >= 1), in file order. */
    public static List<Double> series(List<Map<String, Object>> records, String key) {
        List<Double> out = new ArrayList<>();
        for (Map<String, Object> r : records) {
            if (((Number) r.get("step")).longValue() >= 1) {
                out.add(((Number) r.get(key)).doubleValue());
            }
        }
        return out;
    }
}
