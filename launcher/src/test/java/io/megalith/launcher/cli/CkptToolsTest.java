package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.tensor.HostTensor;
import io.megalith.launcher.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileUtil;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code megalith ckpt} on a local run: interrupted saves, single-file export, inspect's model shape. */
class CkptToolsTest {
    private static final String TINY = CkptCommandTest.TINY; // a tiny addition run saving at steps 10 and 20

    @TempDir
    static Path tmp;
    private static Path run;

    @BeforeAll
    static void train() throws Exception {
        Path config = tmp.resolve("tiny.yaml");
        Files.writeString(config, TINY);
        run = tmp.resolve("run");
        CliRun train = CliRun.of("train", "--config", config.toString(), "--set", "run.dir=" + run);
        assertThat(train.exit()).as(train.err()).isZero();
    }

    /** What a writer killed before its rename leaves: a staging directory with some files and no manifest. */
    private static Path interruptedSave(long step) throws Exception {
        Path staging = run.resolve("checkpoints").resolve(String.format(".tmp-step-%08d-00c0ffee", step));
        Files.createDirectories(staging);
        try (Stream<Path> files = Files.list(run.resolve("checkpoints/step-00000020"))) {
            for (Path f : files.filter(f -> !f.getFileName().toString().equals("manifest.json")).toList()) {
                Files.copy(f, staging.resolve(f.getFileName()));
            }
        }
        return staging;
    }

    @Test
    void interruptedSaveIsListedAndVerifiedAsIncomplete() throws Exception {
        Path staging = interruptedSave(30);
        try {
            CliRun list = CliRun.of("ckpt", "list", run.toString());
            assertThat(list.exit()).isZero();
            assertThat(list.out()).contains("2 checkpoint directories, 1 unpublished")
                    .containsPattern("step 20 +complete")
                    .containsPattern("step 30 +INCOMPLETE +\\.tmp-step-00000030-00c0ffee: interrupted save")
                    .contains("resume ignores it");
            // ordered by step: the interrupted save is last, where the run stopped
            assertThat(list.out().indexOf("step 30")).isGreaterThan(list.out().indexOf("step 20"));

            // all published checkpoints are intact, so a full verify passes but says what it saw
            CliRun all = CliRun.of("ckpt", "verify", run.toString());
            assertThat(all.exit()).isZero();
            assertThat(all.out()).contains("step 10: OK", "step 20: OK", "step 30: INCOMPLETE",
                    "2 of 2 checkpoint(s) verified; 1 unpublished directory");

            // asking for that step is asking for a checkpoint that does not exist: exit 1
            CliRun one = CliRun.of("ckpt", "verify", run.toString(), "--step", "30");
            assertThat(one.exit()).isEqualTo(1);
            assertThat(one.out()).contains("step 30: INCOMPLETE", "0 of 0 checkpoint(s) verified");
        } finally {
            FileUtil.fullyDelete(staging.toFile());
        }
        assertThat(CliRun.of("ckpt", "list", run.toString()).out()).doesNotContain("INCOMPLETE");
    }

    @Test
    void exportToOneFileWithTokenizer() throws Exception {
        Path dir = tmp.resolve("one");
        Path file = dir.resolve("tiny.safetensors");
        CliRun export = CliRun.of("ckpt", "export", run.toString(), "--out", file.toString(), "--with-tokenizer");
        assertThat(export.exit()).as(export.err()).isZero();
        try (Stream<Path> files = Files.list(dir)) { // no .crc sidecar, no model.safetensors directory
            assertThat(files.map(f -> f.getFileName().toString())).containsExactlyInAnyOrder("tiny.safetensors",
                    "tokenizer.json");
        }
        assertThat(Files.isRegularFile(file)).isTrue();
        assertThat(Files.readAllBytes(dir.resolve("tokenizer.json")))
                .isEqualTo(Files.readAllBytes(run.resolve("tokenizer.json")));

        // --out DIR/ as before: DIR/model.safetensors, the same tensors
        Path asDir = tmp.resolve("dir");
        assertThat(CliRun.of("ckpt", "export", run.toString(), "--out", asDir + "/").exit()).isZero();
        try (Stream<Path> files = Files.list(asDir)) {
            assertThat(files.map(f -> f.getFileName().toString())).containsExactly("model.safetensors");
        }
        Map<String, HostTensor> one = SafetensorsWeights.read(file.toString(), new Configuration());
        Map<String, HostTensor> fromDir = SafetensorsWeights.read(asDir.toString(), new Configuration());
        assertThat(one.keySet()).contains("wte.weight").isEqualTo(fromDir.keySet());
        for (String name : one.keySet()) {
            assertThat(one.get(name).data()).as(name).isEqualTo(fromDir.get(name).data());
        }

        // shards need a directory: refused before anything is written
        Path refused = tmp.resolve("refused").resolve("x.safetensors");
        CliRun shards = CliRun.of("ckpt", "export", run.toString(), "--out", refused.toString(), "--max-shard-mb", "1");
        assertThat(shards.exit()).isEqualTo(2);
        assertThat(shards.err()).contains("--max-shard-mb", "give --out a directory");
        assertThat(refused.getParent()).doesNotExist();
    }

    @Test
    void inspectPrintsTheModelShapeAsYaml() throws Exception {
        CliRun inspect = CliRun.of("ckpt", "inspect", run.toString());
        assertThat(inspect.exit()).as(inspect.err()).isZero();
        assertThat(inspect.out()).contains("state: step 20, seed 3").doesNotContain("GptConfig[");
        // the block from "model:" to the next unindented line is YAML with the config's keys
        String out = inspect.out();
        String block = out.substring(out.indexOf("\nmodel:\n") + 1, out.indexOf("\nfiles:"));
        JsonNode model = new YAMLMapper()
                .readTree(block).get("model");
        assertThat(model.get("family").asText()).isEqualTo("gpt");
        assertThat(model.get("n_layer").asInt()).isEqualTo(1);
        assertThat(model.get("n_head").asInt()).isEqualTo(2);
        assertThat(model.get("n_embd").asInt()).isEqualTo(32);
        assertThat(model.get("block_size").asInt()).isEqualTo(8);
        assertThat(model.get("vocab_size").asInt()).isPositive();
    }
}
