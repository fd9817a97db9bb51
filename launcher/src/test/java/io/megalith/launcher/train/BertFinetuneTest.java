package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.SafetensorsFile;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.bert.BertClassification;
import io.megalith.core.finetune.BaseCheckpoint;
import io.megalith.core.finetune.ClassificationData;
import io.megalith.core.finetune.ModelFiles;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.outputs.LoraOutputs;
import io.megalith.core.train.report.MetricsLog;
import io.megalith.launcher.testing.CliRun;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BERT sequence classification through the launcher: a tiny masked-LM BERT is pre-trained on a play written here
 * (two speakers with disjoint alphabets: an easy task), then {@code megalith finetune} fine-tunes it to tell the
 * speakers apart at tp=2 on Spark local[2] from the base's run directory: the run completes, reports held-out
 * accuracy above the majority class, and starts from the base's backbone (every backbone tensor equal to the base's);
 * with LoRA at tp=2 the backbone stays the base's exactly while adapters and head train, and the run leaves
 * adapters.safetensors (adapters, head, pooler) and merged.safetensors (a plain classifier computing the same logits).
 */
class BertFinetuneTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());
    static final Configuration HADOOP = new Configuration();

    @TempDir
    static Path tmp;

    /** Speeches of ALICE (letters a-h) and BOB (letters n-u), ALICE with more lines. */
    static String play() {
        StringBuilder sb = new StringBuilder();
        Random r = new Random(4);
        for (int s = 0; s < 60; s++) {
            boolean alice = s % 5 < 3;
            sb.append(alice ? "ALICE:\n" : "BOB:\n");
            for (int l = 0; l < 2; l++) {
                int n = 6 + r.nextInt(8);
                for (int i = 0; i < n; i++) {
                    sb.append(i % 4 == 3 ? ' ' : (char) ((alice ? 'a' : 'n') + r.nextInt(8)));
                }
                sb.append('\n');
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    static String bertYaml(Path runDir, Path data) {
        return """
                seed: 5
                run: {dir: "%s", name: bert-ft-test}
                model: {family: bert, n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, dropout: 0.0, bias: true}
                data: {task: text, path: "%s", tokenizer: char, val_fraction: 0.1}
                train: {max_steps: 10, batch_size: 8, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 2, eval_batches: 2}
                checkpoint: {every: 0}
                runtime: {threads: 1}
                comm: {deadline_seconds: 30}
                """.formatted(runDir, data);
    }

    @Test
    void finetunesAClassifierAtTp2FromAMaskedLmRun() throws Exception {
        Path data = Files.writeString(tmp.resolve("play.txt"), play());
        Path base = tmp.resolve("base");
        MegalithConfig pre = ConfigLoader.fromYaml(bertYaml(base, data), List.of("launch.master=inprocess"), "base");
        try (TrainingRun run = ModelFamilies.of(pre).newRun(pre,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            run.run();
        }
        Path ftDir = tmp.resolve("ft");
        Path conf = Files.writeString(tmp.resolve("ft.yaml"), bertYaml(ftDir, data)
                .replace("task: text,", "task: speakers, speakers: 2, held_out_fraction: 0.2,")
                .replace("max_steps: 10", "max_steps: 30").replace("every: 0}", "every: 0, init_from: \"" + base + "\"}"));
        String out = megalith("finetune", "--config", conf.toString(), "--set", "parallel.tp=2");
        assertThat(out).contains("held-out accuracy").contains("majority class");
        List<Map<String, Object>> metrics = MetricsLog.read(ftDir.toString(), HADOOP);
        Map<String, Object> eval = metrics.get(metrics.size() - 1);
        assertThat(metrics).hasSize(31);
        double accuracy = ((Number) eval.get("accuracy")).doubleValue();
        double majority = ((Number) eval.get("majority_baseline")).doubleValue();
        assertThat(majority).isBetween(0.3, 0.8);
        assertThat(accuracy).as("disjoint alphabets: far above the majority class").isGreaterThan(majority + 0.15);

        // a fresh run from the same base starts from the base's backbone; the head is new
        MegalithConfig again = ConfigLoader.fromYaml(Files.readString(conf), List.of("launch.master=inprocess",
                "run.dir=" + tmp.resolve("ft-again")), "again");
        Map<String, HostTensor> baseWeights = BaseCheckpoint.read(base.toString(), HADOOP).weights();
        Map<String, HostTensor> start0 = new HashMap<>();
        try (TrainingRun run = ModelFamilies.of(again).newRun(again,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            Map<String, HostTensor> start = run.fullParameters();
            start0.putAll(start);
            assertThat(start).containsKey("classifier.weight").containsKey("layers.1.mlp.fc.weight");
            start.forEach((name, t) -> {
                if (!name.startsWith("classifier.")) {
                    assertThat(t.contentEquals(baseWeights.get(name))).as("%s from the base", name).isTrue();
                }
            });
        }
        // LoRA at tp=2: only adapters, pooler and head train; every other tensor of the result is the base's
        Path loraDir = tmp.resolve("ft-lora");
        String loraOut = megalith("finetune", "--config", conf.toString(), "--set", "parallel.tp=2", "--set",
                "run.dir=" + loraDir, "--set", "finetune.lora.rank=4", "--set", "finetune.lora.alpha=8",
                "--set", "train.lr=1.0e-2");
        assertThat(loraOut).contains("held-out accuracy");
        Map<String, HostTensor> tuned = BaseCheckpoint.read(loraDir.toString(), HADOOP).weights();
        int adapters = 0;
        for (Map.Entry<String, HostTensor> e : tuned.entrySet()) {
            String name = e.getKey();
            if (name.endsWith(".lora_a") || name.endsWith(".lora_b")) {
                adapters++;
            } else if (!name.startsWith("classifier.") && !name.startsWith("pooler.")) {
                assertThat(e.getValue().contentEquals(baseWeights.get(name))).as("%s frozen at the base's", name).isTrue();
            }
        }
        assertThat(adapters).as("adapters on qkv, proj, fc, proj of 2 layers").isEqualTo(16);
        assertThat(tuned.get("classifier.weight").contentEquals(start0.get("classifier.weight"))).isFalse();
        loraFiles(loraOut, loraDir, tuned, baseWeights, ConfigLoader.fromYaml(Files.readString(conf),
                List.of("launch.master=inprocess", "run.dir=" + tmp.resolve("ft-lora-check"), "finetune.lora.rank=4",
                        "finetune.lora.alpha=8"), "check"));

        // a base of another shape is refused, naming the tensor and the keys to set
        MegalithConfig wider = ConfigLoader.fromYaml(Files.readString(conf), List.of("launch.master=inprocess",
                "run.dir=" + tmp.resolve("ft-wider"), "model.n_embd=48"), "wider");
        assertThatThrownBy(() -> ModelFamilies.of(wider).newRun(wider,
                HADOOP, QUIET, RankGroups.single(), true, null))
                .hasMessageContaining("has shape").hasMessageContaining("model.n_layer / n_head / n_embd");
    }

    /**
     * The LoRA run's files: adapters.safetensors holds the adapters and what else trained (head and pooler, named in
     * its metadata); merged.safetensors = base + scale * B A for an adapted weight, the base's for another backbone
     * tensor, and loaded into a plain classifier it computes the logits of base + adapters.
     */
    static void loraFiles(String out, Path dir, Map<String, HostTensor> tuned, Map<String, HostTensor> base,
            MegalithConfig cfg) throws Exception {
        assertThat(out).contains(LoraOutputs.ADAPTERS_FILE).contains(LoraOutputs.MERGED_FILE)
                .contains("merged into a plain bert model");
        SafetensorsFile adapters = ModelFiles.load(dir.resolve(LoraOutputs.ADAPTERS_FILE));
        SafetensorsFile mergedFile = ModelFiles.load(dir.resolve(LoraOutputs.MERGED_FILE));
        Map<String, HostTensor> merged = mergedFile.tensors();
        Map<String, String> meta = adapters.metadata();
        assertThat(meta).containsEntry(ModelFiles.LORA_RANK, "4").containsEntry(LoraOutputs.FAMILY, "bert")
                .containsKey(LoraOutputs.MODEL);
        assertThat(mergedFile.metadata()).containsEntry(LoraOutputs.FAMILY, "bert");
        assertThat(meta.get(LoraOutputs.MODEL)).contains("classifier [");
        List<String> also = List.of(meta.get(LoraOutputs.ALSO_TRAINED).split(","));
        assertThat(also).contains("classifier.weight").allMatch(n -> n.startsWith("classifier.") || n.startsWith("pooler."));
        assertThat(adapters.tensors().keySet()).hasSize(16 + also.size()).containsAll(also);
        assertThat(adapters.tensors().get("classifier.weight").contentEquals(tuned.get("classifier.weight"))).isTrue();
        assertThat(merged.keySet()).noneMatch(n -> n.endsWith(".lora_a") || n.endsWith(".lora_b"))
                .contains("classifier.weight", "layers.0.ln1.weight", "layers.1.mlp.fc.weight");
        // an adapted weight: base + (alpha / rank) B A
        String layer = "layers.1.mlp.fc";
        float[] w = base.get(layer + ".weight").toFloats();
        float[] a = tuned.get(layer + ".lora_a").toFloats();
        float[] b = tuned.get(layer + ".lora_b").toFloats();
        long[] shape = base.get(layer + ".weight").shape();
        int rows = (int) shape[0];
        int cols = (int) shape[1];
        float[] m = merged.get(layer + ".weight").toFloats();
        double moved = 0;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double ba = 0;
                for (int q = 0; q < 4; q++) {
                    ba += (double) b[i * 4 + q] * a[q * cols + j];
                }
                assertThat((double) m[i * cols + j]).isCloseTo(w[i * cols + j] + 2.0 * ba, within(1e-6));
                moved = Math.max(moved, Math.abs(m[i * cols + j] - w[i * cols + j]));
            }
        }
        assertThat(moved).as("the adapter trained").isGreaterThan(1e-4);
        assertThat(merged.get("layers.0.ln1.weight").contentEquals(base.get("layers.0.ln1.weight")))
                .as("an unadapted backbone tensor is the base's").isTrue();
        double diff = Double.parseDouble(LoraOutputs.adapterMetadata(dir.toString(), HADOOP).get(LoraOutputs.MERGED_DIFF));
        assertThat(diff).isLessThan(1e-4);

        // merged.safetensors in a plain (no-LoRA) classifier = the checkpoint's base + adapters
        Torch.load(1);
        try (NDManager manager = Torch.newManager()) {
            BertClassification task = new BertClassification(cfg, HADOOP,
                    Placement.tensorParallel(RankGroups.single().tensorParallel()));
            BertConfig adapted = task.config();
            assertThat(adapted.lora().enabled()).isTrue();
            ClassificationData.Batch batch = task.data().heldOut(0, 8);
            float[] withAdapters = logits(new SequenceClassifier(adapted, 2), tuned, batch, manager);
            float[] plain = logits(new SequenceClassifier(adapted.withLora(LoraConfig.NONE), 2), merged, batch, manager);
            assertThat(plain).hasSize(batch.batch() * 2).containsExactly(withAdapters, Offset.offset(1e-5f));
        }
    }

    static float[] logits(SequenceClassifier model, Map<String, HostTensor> state, ClassificationData.Batch b,
            NDManager manager) {
        JniUtils.setGradMode(false);
        try (ParameterStore store = new ParameterStore(model, manager, 0); NDManager m = manager.newSubManager()) {
            store.load(state);
            return model.logits(b.ids(), b.segments(), b.batch(), b.seqLen(), ForwardContext.inference(m)).toFloatArray();
        }
    }

    static String megalith(String... args) {
        CliRun r = CliRun.of(args);
        assertThat(r.exit()).as(r.out() + r.err()).isZero();
        return r.out();
    }
}
