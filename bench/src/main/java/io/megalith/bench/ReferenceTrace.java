package io.megalith.bench;

import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.checkpoint.Safetensors;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.Trainer;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes what PyTorch needs to replay a Megalith training run step by step: the initial weights, the
 * batches of each step, and Megalith's loss and gradient norm per step. {@code
 * bench/pytorch/compare_with_megalith.py} trains the same GPT in PyTorch from those weights on those
 * batches and compares; it is how we know our GPT is nanoGPT's math.
 *
 * <pre>  java -cp ... io.megalith.bench.ReferenceTrace OUT_DIR [steps] [text file]</pre>
 */
public final class ReferenceTrace {
    private ReferenceTrace() {}

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        Files.createDirectories(out);
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                model: {n_layer: 4, n_head: 4, n_embd: 128, block_size: 64, dropout: 0.0, bias: false}
                data: {task: text, path: bench, tokenizer: char}
                train: {batch_size: 12, lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 10, lr_decay_steps: 50,
                        beta2: 0.99, grad_clip: 1.0, weight_decay: 0.1}
                runtime: {threads: 1}
                """, List.of(), "reference trace");
        Torch.load(1);
        String text = args.length > 2 ? Files.readString(Path.of(args[2])) : TrainThroughput.randomText(200_000);
        CharTokenizer tok = CharTokenizer.fit(text);
        TextData data = new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
        try (var manager = Torch.newManager()) {
            Gpt model = new Gpt(GptConfig.from(cfg.model(), tok.vocabSize()));
            ParameterStore params = new ParameterStore(model, manager, cfg.seed());
            model.initConstants(manager);
            write(out.resolve("init.safetensors"), params.toHost());
            Map<String, HostTensor> batches = new LinkedHashMap<>();
            StringBuilder json = new StringBuilder("{\"vocab\": " + tok.vocabSize() + ", \"steps\": [");
            try (Trainer trainer = new Trainer(cfg, new GptParts(GptPlan.apply(model, Placement.SINGLE), data), params, manager, RankGroups.single())) {
                for (int s = 0; s < steps; s++) {
                    Batch b = data.train(s, 0, cfg.train().batchSize());
                    batches.put("x." + s, HostTensor.ofLongs(b.inputs(), b.size(), b.seqLen()));
                    batches.put("y." + s, HostTensor.ofLongs(b.targets(), b.size(), b.seqLen()));
                    Trainer.StepStats st = trainer.step(s);
                    json.append(s == 0 ? "" : ", ").append(String.format("{\"loss\": %.9g, \"grad_norm\": %.9g, \"lr\": %.9g}",
                            st.loss(), st.gradNorm(), st.lr()));
                }
            }
            json.append("]}\n");
            write(out.resolve("batches.safetensors"), batches);
            write(out.resolve("final.safetensors"), params.toHost());
            Files.writeString(out.resolve("megalith.json"), json);
        }
        System.out.println("wrote " + out);
    }

    private static void write(Path file, Map<String, HostTensor> tensors) throws Exception {
        try (OutputStream o = Files.newOutputStream(file)) {
            Safetensors.write(o, tensors, Map.of());
        }
    }
}
