package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.launcher.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The megalith command end to end, in this JVM: config errors, a tiny training run, generation. */
class MegalithCliTest {
    private static final String TINY_ADDITION = """
            seed: 3
            run:
              dir: runs/never-used
              name: cli-test
            model:
              n_layer: 1
              n_head: 2
              n_embd: 32
              block_size: 8
              dropout: 0.0
            data:
              task: addition
              digits: 2
              held_out_fraction: 0.1
              eval_pairs: 20
            train:
              max_steps: 100
              batch_size: 8
              warmup_steps: 2
              eval_every: 10
              eval_batches: 2
            checkpoint:
              every: 10
              keep_last: 2
            runtime:
              threads: 1
            """;

    @TempDir
    Path tmp;

    private Path config;
    private Path runDir;

    @BeforeEach
    void writeConfig() throws Exception {
        config = tmp.resolve("tiny.yaml");
        Files.writeString(config, TINY_ADDITION);
        runDir = tmp.resolve("run");
    }

    private static CliRun megalith(String... args) {
        return CliRun.of(args);
    }

    static Stream<Arguments> badSettings() {
        return Stream.of(
                Arguments.of("unknown key", "train.max_stepz=5", "train.max_stepz"),
                Arguments.of("unknown section", "trainer.max_steps=5", "trainer"),
                Arguments.of("wrong type", "train.batch_size=eight", "train.batch_size"),
                Arguments.of("float for an integer", "model.n_layer=1.5", "model.n_layer"),
                Arguments.of("out of range", "model.dropout=1.5", "model.dropout"),
                Arguments.of("inconsistent", "model.block_size=7", "model.block_size"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badSettings")
    void configErrorsExitWithTwoNameTheKeyAndCreateNothing(String what, String setting, String path) {
        CliRun r = megalith("train", "--config", config.toString(), "--set", "run.dir=" + runDir, "--set", setting);
        assertThat(r.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(r.err()).contains("invalid configuration").contains(path);
        assertThat(runDir).doesNotExist();
    }

    @Test
    void errorsInTheFileItselfAreReportedWithTheirPath() throws Exception {
        Files.writeString(config, TINY_ADDITION.replace("  eval_pairs: 20", "  eval_pairs: 20\n  eval_pears: 3")
                .replace("n_embd: 32", "n_embd: wide"));
        CliRun r = megalith("train", "--config", config.toString(), "--set", "run.dir=" + runDir);
        assertThat(r.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(r.err()).contains("data.eval_pears").contains("model.n_embd").contains(config.toString());
        assertThat(runDir).doesNotExist();
    }

    @Test
    void missingConfigFileIsAConfigError() {
        CliRun r = megalith("train", "--config", tmp.resolve("nope.yaml").toString(), "--set", "run.dir=" + runDir);
        assertThat(r.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(r.err()).contains("nope.yaml");
        assertThat(runDir).doesNotExist();
    }

    @Test
    void trainsATinyAdditionRunThenGeneratesFromIt() throws Exception {
        CliRun train = megalith("train", "--config", config.toString(), "--set", "run.dir=" + runDir,
                "--set", "train.max_steps=30", "--set", "data.eval_pairs=10");
        assertThat(train.exit()).as(train.err()).isZero();
        assertThat(train.out()).contains("trained steps 0..30").contains("exact match on 10 held-out problems");
        assertThat(runDir.resolve("metrics.jsonl")).exists();
        assertThat(Files.readAllLines(runDir.resolve("metrics.jsonl"))).hasSize(31);
        assertThat(runDir.resolve("loss.png")).exists();
        try (Stream<Path> dirs = Files.list(runDir.resolve("checkpoints"))) {
            assertThat(dirs.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("step-00000020",
                    "step-00000030");
        }

        CliRun gen = megalith("generate", "--run", runDir.toString(), "--prompt", "12+34=", "-n", "3",
                "--samples", "2", "--temperature", "0");
        assertThat(gen.exit()).as(gen.err()).isZero();
        assertThat(gen.out()).contains("at step 30");
        // two greedy samples of the same prompt: the prompt and three digits (or symbols) each, identical
        String[] lines = gen.out().lines().filter(l -> l.startsWith("12+34=")).toArray(String[]::new);
        assertThat(lines).hasSize(2);
        assertThat(lines[0]).hasSize(9).isEqualTo(lines[1]);

        // rerunning train on the finished run trains nothing more
        CliRun again = megalith("train", "--config", config.toString(), "--set", "run.dir=" + runDir,
                "--set", "train.max_steps=30", "--set", "data.eval_pairs=10");
        assertThat(again.exit()).isZero();
        assertThat(again.out()).contains("nothing left to train");
        assertThat(Files.readAllLines(runDir.resolve("metrics.jsonl"))).hasSize(31);
    }

    @Test
    void generateWithTheRunsDefaultsWorksOnAnAdditionRun() {
        CliRun train = megalith("train", "--config", config.toString(), "--set", "run.dir=" + runDir,
                "--set", "train.max_steps=10", "--set", "data.eval_pairs=10", "--set", "launch.master=inprocess");
        assertThat(train.exit()).as(train.err()).isZero();
        CliRun gen = megalith("generate", "--run", runDir.toString());
        assertThat(gen.exit()).as(gen.err()).isZero();
        assertThat(gen.out()).contains("at step 10").contains("8 held-out problems");
        assertThat(gen.out().lines().filter(l -> l.matches("\\d\\d\\+\\d\\d=.{3}  (ok|\\(expected \\d{3}\\))")))
                .hasSize(8);
    }

    @Test
    void generateWithoutACheckpointFails() {
        CliRun gen = megalith("generate", "--run", runDir.toString());
        assertThat(gen.exit()).isEqualTo(1);
        assertThat(gen.err()).contains("no complete checkpoint");
    }

    /**
     * megalith finetune on a GPT config in the train format: a tiny addition run is the base (a vocabulary without a
     * newline: answers end by length), LoRA on prompt<TAB>answer pairs of a file, one rank in this JVM.
     */
    @Test
    void finetunesAGptFromATrainRunWithLora() throws Exception {
        CliRun train = megalith("train", "--config", config.toString(), "--set", "run.dir=" + runDir,
                "--set", "train.max_steps=10", "--set", "data.eval_pairs=10");
        assertThat(train.exit()).as(train.err()).isZero();
        StringBuilder pairs = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            int a = (i * 37) % 100;
            int b = (i * 61 + 7) % 100;
            pairs.append(String.format("%02d+%02d=\t%03d%n", a, b, a + b));
        }
        Path tsv = Files.writeString(tmp.resolve("pairs.tsv"), pairs);
        Path out = tmp.resolve("ft");
        Path ft = Files.writeString(tmp.resolve("ft.yaml"), """
                run: {dir: "%s", name: cli-ft}
                model: {n_layer: 1, n_head: 2, n_embd: 32, block_size: 8, dropout: 0.0}
                data: {task: pairs, path: "%s", held_out_fraction: 0.2, eval_pairs: 8}
                train: {max_steps: 6, batch_size: 4, warmup_steps: 0, eval_every: 0, eval_batches: 2}
                checkpoint: {init_from: "%s"}
                finetune: {lora: {rank: 2, alpha: 4, targets: [attn.qkv, mlp.fc]}}
                runtime: {threads: 1}
                launch: {master: inprocess}
                """.formatted(out, tsv, runDir));
        CliRun r = megalith("finetune", "--config", ft.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("pairs from " + tsv + ": 32 train, 8 held out").contains("trained steps 0..6")
                .contains("exact match on (up to 8) held-out pairs").contains("LoRA adapters in");
        assertThat(out.resolve("adapters.safetensors")).exists();
        assertThat(out.resolve("merged.safetensors")).exists();
        assertThat(Files.readString(out.resolve("tokenizer.json"))).isEqualTo(Files.readString(runDir.resolve(
                "tokenizer.json")));

        // megalith train with init_from a run dir takes the shape the config leaves unset from the base run as well
        String shapeless = Files.readString(ft).replace("model: {n_layer: 1, n_head: 2, n_embd: 32, block_size: 8, "
                + "dropout: 0.0}", "model: {dropout: 0.0}").replace(out.toString(), tmp.resolve("ft-train").toString());
        assertThat(shapeless).doesNotContain("n_layer");
        Path ftTrain = Files.writeString(tmp.resolve("ft-train.yaml"), shapeless);
        CliRun viaTrain = megalith("train", "--config", ftTrain.toString());
        assertThat(viaTrain.exit()).as(viaTrain.err()).isZero();
        assertThat(viaTrain.out()).contains("trained steps 0..6").contains("LoRA adapters in");

        CliRun bad = megalith("finetune", "--config", ft.toString(), "--set", "finetune.lora.rnak=2");
        assertThat(bad.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(bad.err()).contains(ft.toString()).contains("finetune.lora.rnak");
    }
}
