package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.Trainer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Single-rank training throughput: forward + backward + AdamW step of the nanoGPT CPU Shakespeare
 * config (4 layers, 4 heads, 128 wide, context 64, batch 12), measured exactly as training runs it
 * ({@link Trainer#step}), after warm-up, as the median of timed steps.
 *
 * <pre>
 *   java -cp ... io.megalith.bench.TrainThroughput [--threads 1] [--workers 1] [--warmup 20] [--steps 100]
 *        [--data tinyshakespeare.txt] [--profile trace.json]
 * </pre>
 *
 * With --profile, libtorch's profiler records 10 steps and the time is split into matrix
 * multiplication (the math), other kernels, and what is left: Java, JNI and autograd bookkeeping.
 */
public final class TrainThroughput {
    private TrainThroughput() {}

    public static void main(String[] args) throws Exception {
        int threads = 1;
        int workers = 1;
        int warmup = 20;
        int steps = 100;
        String dataPath = null;
        String profile = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--workers" -> workers = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--data" -> dataPath = args[++i];
                case "--profile" -> profile = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                model: {n_layer: 4, n_head: 4, n_embd: 128, block_size: 64, dropout: 0.0, bias: false}
                data: {task: text, path: bench, tokenizer: char}
                train: {batch_size: BATCH, lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 100, lr_decay_steps: 2000,
                        beta2: 0.99, grad_clip: 1.0}
                """.replace("BATCH", System.getProperty("bench.batch", "12")), List.of("runtime.threads=" + threads, "runtime.workers=" + workers), "bench");
        Torch.load(threads);
        String text = dataPath != null ? Files.readString(Path.of(dataPath), StandardCharsets.UTF_8) : randomText(1_000_000);
        CharTokenizer tok = CharTokenizer.fit(text);
        TextData data = new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
        try (NDManager manager = Torch.newManager()) {
            Gpt model = new Gpt(GptConfig.from(cfg.model(), tok.vocabSize()));
            ParameterStore params = new ParameterStore(model, manager, cfg.seed());
            model.initConstants(manager);
            Trainer trainer = new Trainer(cfg, new GptParts(GptPlan.apply(model, Placement.SINGLE), data), params, manager, RankGroups.single());
            for (int s = 0; s < warmup; s++) {
                trainer.step(s);
            }
            long[] nanos = new long[steps];
            for (int s = 0; s < steps; s++) {
                long t0 = System.nanoTime();
                trainer.step(warmup + s);
                nanos[s] = System.nanoTime() - t0;
            }
            long[] sorted = nanos.clone();
            Arrays.sort(sorted);
            double medianMs = sorted[steps / 2] / 1e6;
            double tokens = (double) cfg.train().batchSize() * cfg.model().blockSize();
            System.out.printf("threads=%d workers=%d params=%d steps=%d median_step_ms=%.2f p10_ms=%.2f p90_ms=%.2f tokens_per_sec=%.0f%n",
                    threads, workers, params.numel(), steps, medianMs, sorted[steps / 10] / 1e6, sorted[steps * 9 / 10] / 1e6,
                    tokens / (medianMs / 1000));
            if (profile != null) {
                JniUtils.startProfile(false, System.getenv("MEGALITH_PROFILE_SHAPES") != null, false);
                long t0 = System.nanoTime();
                for (int s = 0; s < 10; s++) {
                    trainer.step(warmup + steps + s);
                }
                double wallMs = (System.nanoTime() - t0) / 1e6 / 10;
                JniUtils.stopProfile(profile);
                ProfileSummary.print(Path.of(profile), 10, wallMs);
            }
        }
    }

    /** A character stream with the letter statistics of nothing in particular (65 symbols, like Shakespeare's). */
    static String randomText(int n) {
        String alphabet = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        Random r = new Random(7);
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        return sb.toString();
    }

}
