package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.finetune.ModelFiles;
import io.megalith.core.lora.Lora;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.outputs.LoraOutputs;
import io.megalith.core.train.report.MetricsLog;
import io.megalith.launcher.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code megalith train} a tiny GPT, then {@code megalith finetune} it like a training run: LoRA on the built-in
 * upper pairs at dp=2 as a Spark local[2] barrier stage, the same fine-tune at dp=1 in this JVM for comparison.
 */
class FinetuneCommandTest {
    static final Configuration HADOOP = new Configuration();

    @TempDir
    static Path tmp;

    static Path base;
    static Path ftConfig;

    static CliRun megalith(String... args) {
        return CliRun.of(args);
    }

    @BeforeAll
    static void trainTheBase() throws Exception {
        Random rnd = new Random(3);
        StringBuilder sb = new StringBuilder("ABCDEFGHIJKLMNOPQRSTUVWXYZ:\n");
        for (int line = 0; line < 200; line++) {
            for (int w = 0; w < 6; w++) {
                int len = 3 + rnd.nextInt(4);
                for (int i = 0; i < len; i++) {
                    sb.append((char) ('a' + rnd.nextInt(26)));
                }
                sb.append(w == 5 ? ".\n" : " ");
            }
        }
        Path text = tmp.resolve("words.txt");
        Files.writeString(text, sb);
        base = tmp.resolve("base");
        String model = "model: {n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.0}\n";
        Path baseConfig = tmp.resolve("base.yaml");
        Files.writeString(baseConfig, """
                seed: 11
                run: {dir: "%s", name: tiny-base}
                %sdata: {task: text, path: "%s", tokenizer: char}
                train: {max_steps: 20, batch_size: 4, lr: 3.0e-3, warmup_steps: 2, eval_every: 0, eval_batches: 2}
                checkpoint: {every: 0}
                runtime: {threads: 1}
                launch: {master: inprocess}
                """.formatted(base, model, text));
        assertThat(megalith("train", "--config", baseConfig.toString()).exit()).isZero();
        ftConfig = tmp.resolve("ft.yaml");
        Files.writeString(ftConfig, """
                seed: 5
                run: {dir: "%s", name: tiny-ft}
                data: {task: pairs, builtin: upper, held_out_fraction: 0.1, eval_pairs: 16}
                train: {max_steps: 60, batch_size: 8, lr: 2.0e-2, min_lr: 2.0e-3, warmup_steps: 0, eval_every: 60,
                        eval_batches: 2}
                checkpoint: {every: 0, init_from: "%s"}
                finetune: {lora: {rank: 4, alpha: 8}}
                runtime: {threads: 1}
                comm: {deadline_seconds: 30}
                """.formatted(tmp.resolve("ft"), base)); // no model section: the base run's shape
    }

    static List<Double> series(Path runDir, String key) throws Exception {
        return MetricsLog.read(runDir.toString(), HADOOP).stream().filter(r -> r.containsKey(key))
                .map(r -> ((Number) r.get(key)).doubleValue()).toList();
    }

    @Test
    void loraFineTuneAtDp2OnSparkLearnsAndWritesAdapters() throws Exception {
        Path two = tmp.resolve("ft-dp2");
        CliRun r = megalith("finetune", "--config", ftConfig.toString(), "--set", "run.dir=" + two,
                "--set", "parallel.dp=2");
        assertThat(r.exit()).isZero();
        assertThat(r.out()).contains("dp 2").contains("trained steps 0..60").contains(LoraOutputs.MERGED_FILE);
        double diff = Double.parseDouble(LoraOutputs.adapterMetadata(two.toString(), HADOOP).get(LoraOutputs.MERGED_DIFF));
        assertThat(diff).as("merged vs base + adapters logits").isLessThan(1e-4);
        assertThat(r.out()).contains("max |logit diff| of merged vs base + adapters: " + diff);
        assertThat(two.resolve(LoraOutputs.ADAPTERS_FILE)).exists();
        assertThat(two.resolve(LoraOutputs.MERGED_FILE)).exists();
        List<Double> answer = series(two, "answer_loss");
        assertThat(answer).hasSize(2);
        // only the adapters train (tied embeddings frozen) on a base that saw each capital once
        assertThat(answer.get(1)).as("held-out answer loss after vs before").isLessThan(0.85 * answer.get(0));
        List<Double> exact = series(two, "exact_match");
        assertThat(exact.get(1)).isGreaterThanOrEqualTo(exact.get(0));

        ModelFiles.Adapters adapters = ModelFiles.loadAdapters(two.resolve(LoraOutputs.ADAPTERS_FILE));
        assertThat(adapters.config().rank()).isEqualTo(4);
        Map<String, HostTensor> merged = ModelFiles.load(two.resolve(LoraOutputs.MERGED_FILE)).tensors();
        assertThat(merged.keySet()).noneMatch(Lora::isAdapter)
                .isEqualTo(SafetensorsWeights.read(base.toString(), HADOOP).keySet());

        // the run dir is a normal run dir: generate loads it (with its adapters)
        CliRun g = megalith("generate", "--run", two.toString(), "-n", "4", "--prompt", "abc: ", "--threads", "1");
        assertThat(g.exit()).isZero();
        assertThat(g.out()).contains("at step 60");
        CliRun held = megalith("generate", "--run", two.toString(), "--samples", "3", "--threads", "1");
        assertThat(held.exit()).isZero();
        assertThat(held.out()).contains("at step 60: 3 held-out pairs").contains("|");
    }

    static final String[] SHORTER = {"--set", "train.max_steps=8", "--set", "train.lr=3.0e-3", "--set",
        "train.min_lr=3.0e-4", "--set", "train.eval_every=0"};
    static List<Double> oneRank;

    static synchronized List<Double> oneRankLosses() throws Exception {
        if (oneRank == null) {
            Path one = tmp.resolve("eq-one");
            List<String> a = new ArrayList<>(List.of("finetune", "--config", ftConfig.toString(), "--set",
                    "run.dir=" + one, "--set", "launch.master=inprocess"));
            a.addAll(List.of(SHORTER));
            assertThat(megalith(a.toArray(String[]::new)).exit()).isZero();
            oneRank = series(one, "loss");
        }
        return oneRank;
    }

    /** The same LoRA fine-tune on one rank in this JVM and in other layouts on Spark: the same losses step by step. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"parallel.dp=2", "parallel.tp=2",
        "parallel.tp=2 parallel.sequence_parallel=true", "parallel.pp=2 parallel.schedule=gpipe",
        "parallel.dp=2 zero.stage=2"})
    void otherLayoutsEqualOneRankStepByStep(String layout) throws Exception {
        Path run = tmp.resolve("eq-" + layout.replaceAll("[^a-z0-9]+", "-"));
        List<String> b = new ArrayList<>(List.of("finetune", "--config", ftConfig.toString(), "--set",
                "run.dir=" + run));
        for (String set : layout.split(" ")) {
            b.addAll(List.of("--set", set));
        }
        b.addAll(List.of(SHORTER));
        assertThat(megalith(b.toArray(String[]::new)).exit()).isZero();
        List<Double> expected = oneRankLosses();
        List<Double> got = series(run, "loss");
        assertThat(got).hasSize(8);
        for (int i = 0; i < expected.size(); i++) {
            assertThat(got.get(i)).as("step %d", i + 1).isCloseTo(expected.get(i), Percentage.withPercentage(1e-3));
        }
        assertThat(run.resolve(LoraOutputs.MERGED_FILE)).as("written from the final checkpoint in any layout").exists();
        assertThat(series(run, "exact_match")).as("at step 0 and at the end").hasSize(2);
    }

    /** Frozen base weights stay bit-identical: only the adapters train. */
    @Test
    void baseTensorsOfTheFinalCheckpointAreTheBases() throws Exception {
        Path run = tmp.resolve("ft-frozen");
        assertThat(megalith("finetune", "--config", ftConfig.toString(), "--set", "run.dir=" + run,
                "--set", "parallel.dp=2", "--set", "train.max_steps=5").exit()).isZero();
        Map<String, HostTensor> before = SafetensorsWeights.read(base.toString(), HADOOP);
        Map<String, HostTensor> after = new CheckpointStore(run.toString(), HADOOP, 0).loadLatest().orElseThrow()
                .tensorFiles().get("model");
        for (Map.Entry<String, HostTensor> e : before.entrySet()) {
            assertThat(after.get(e.getKey()).contentEquals(e.getValue())).as(e.getKey()).isTrue();
        }
        assertThat(after.keySet().stream().filter(Lora::isAdapter).filter(k -> k.endsWith(".lora_b"))
                .map(after::get).anyMatch(t -> !t.contentEquals(HostTensor.ofFloats(new float[(int) t.numel()],
                        t.shape())))).as("the adapters trained").isTrue();
    }

    /** The former one-rank format (top-level family: gpt) is refused with what to write instead. */
    @Test
    void theFormerOneRankFormatIsAConfigErrorThatSaysWhatToWrite() throws Exception {
        Path old = Files.writeString(tmp.resolve("old.yaml"), """
                family: gpt
                base: {run: runs/x}
                task: {kind: pairs, builtin: upper}
                output: {dir: out}
                """);
        CliRun r = megalith("finetune", "--config", old.toString());
        assertThat(r.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(r.err()).contains(old.toString()).contains("checkpoint.init_from")
                .contains("conf/gpt-finetune-upper.yaml");
    }

    /** The shape keys a fine-tune config leaves unset come from the base run; set ones stay (and are checked). */
    @Test
    void theModelShapeComesFromTheBaseRun() throws Exception {
        List<String> o = BaseShape.overrides(ftConfig, List.of("model.n_head=2"));
        assertThat(o).containsExactly("model.n_layer=2", "model.n_embd=32", "model.block_size=16", "model.bias=false",
                "model.n_head=2");
        assertThat(BaseShape.overrides(ftConfig, List.of("checkpoint.init_from="))).containsExactly(
                "checkpoint.init_from=");
        CliRun wrong = megalith("finetune", "--config", ftConfig.toString(), "--set", "run.dir=" + tmp.resolve("wrong"),
                "--set", "model.n_head=2", "--set", "launch.master=inprocess");
        assertThat(wrong.exit()).isNotZero();
    }

    @Test
    void theShippedConfigsAreValid() throws Exception {
        for (String f : List.of("../conf/gpt-finetune-upper.yaml", "../conf/gpt-finetune-text.yaml")) {
            assertThat(FinetuneCommand.isTrainFormat(Path.of(f))).as(f).isTrue();
            TrainCommand.load(Path.of(f), List.of("data.path=x.txt")
                    .subList(0, f.contains("text") ? 1 : 0));
        }
        assertThat(FinetuneCommand.isTrainFormat(Path.of("../conf/bert-shakespeare-speakers.yaml"))).isFalse();
        Path bert = Files.writeString(tmp.resolve("bert-train-format.yaml"), """
                model: {family: bert}
                data: {task: text, path: x.txt}
                finetune: {lora: {rank: 4}}
                """);
        assertThat(FinetuneCommand.isTrainFormat(bert)).as("a BERT config in the train format runs as train").isTrue();
    }
}
