package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.family.gpt.GptParts;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * What activation checkpointing saves: the peak resident memory (VmHWM) of a process that trains a few
 * steps of a GPT whose activations dominate (8 layers, 256 wide, context 256, batch 16), with
 * {@code train.activation_checkpointing} on or off, and the median step time. Run it twice, in two JVMs:
 *
 * <pre>  java -cp ... io.megalith.bench.ActivationMemoryBench false
 *   java -cp ... io.megalith.bench.ActivationMemoryBench true</pre>
 */
public final class ActivationMemoryBench {
    private ActivationMemoryBench() {}

    public static void main(String[] args) throws Exception {
        boolean checkpointing = Boolean.parseBoolean(args.length > 0 ? args[0] : "false");
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                model: {n_layer: 8, n_head: 8, n_embd: 256, block_size: 256, dropout: 0.0, bias: false}
                data: {task: text, path: bench, tokenizer: char}
                train: {batch_size: 16, lr: 1.0e-3, warmup_steps: 2}
                runtime: {threads: 2}
                """, List.of("train.activation_checkpointing=" + checkpointing), "activation memory bench");
        Torch.load(2);
        String text = TrainThroughput.randomText(400_000);
        CharTokenizer tok = CharTokenizer.fit(text);
        TextData data = new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
        double before = peakMiB();
        long[] ms = new long[5];
        try (NDManager manager = Torch.newManager()) {
            Gpt gpt = new Gpt(GptConfig.from(cfg.model(), tok.vocabSize()));
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager,
                    new SingleRankCommunicator());
            gpt.initConstants(manager);
            try (Trainer trainer = new Trainer(cfg, new GptParts(GptPlan.apply(gpt, Placement.SINGLE), data), params, manager, RankGroups.single())) {
                for (int s = 0; s < ms.length; s++) {
                    long t0 = System.nanoTime();
                    trainer.step(s);
                    ms[s] = (System.nanoTime() - t0) / 1_000_000;
                }
            }
        }
        long[] sorted = ms.clone();
        Arrays.sort(sorted);
        System.out.printf("activation_checkpointing=%s peak_rss_mib=%.0f (before training %.0f) median_step_ms=%d%n",
                checkpointing, peakMiB(), before, sorted[sorted.length / 2]);
    }

    /** VmHWM: the peak resident set of this process so far. */
    static double peakMiB() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.substring(6).trim().split("\\s+")[0]) / 1024.0;
            }
        }
        return -1;
    }
}
