package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.launcher.testing.CliRun;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Problems a config check can see are refused before Spark or any rank starts: exit 2, the YAML key and the path
 * named, no Java exception name, and no run.dir created.
 */
class PreflightCliTest {
    private static final String TINY = """
            run:
              name: preflight
            model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
            data: {task: text, tokenizer: char}
            train: {max_steps: 2, batch_size: 2, eval_every: 0, eval_batches: 1}
            checkpoint: {every: 0}
            runtime: {threads: 1}
            """;

    @TempDir
    Path tmp;

    private Path config;
    private Path runDir;

    @BeforeEach
    void write() throws Exception {
        config = tmp.resolve("tiny.yaml");
        Files.writeString(config, TINY);
        runDir = tmp.resolve("run");
    }

    private CliRun train(String... sets) {
        String[] args = new String[4 + 2 * sets.length];
        args[0] = "train";
        args[1] = "--config";
        args[2] = config.toString();
        args[3] = "--set=run.dir=" + runDir;
        for (int i = 0; i < sets.length; i++) {
            args[4 + 2 * i] = "--set";
            args[5 + 2 * i] = sets[i];
        }
        return CliRun.of(args);
    }

    private void refused(CliRun r, String... contains) {
        assertThat(r.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(r.err()).contains(contains).doesNotContain("Exception").doesNotContain("caused by");
        assertThat(r.out()).doesNotContain("Spark barrier stage");
        assertThat(runDir).doesNotExist();
    }

    @Test
    void aMissingDataFileNamesTheKeyAndThePath() {
        Path missing = tmp.resolve("no-such.txt");
        refused(train("data.path=" + missing), "data.path: no such file or directory: " + missing);
    }

    @Test
    void aRelativeMissingDataFileSaysWhereItWasLookedFor() {
        refused(train("data.path=nope/input.txt"), "data.path: no such file or directory: "
                + Path.of("nope/input.txt").toAbsolutePath(), "resolved against the working directory");
    }

    @Test
    void anEmptyDataFileIsRefusedAndLeavesNoRunDir() throws Exception {
        Path empty = Files.createFile(tmp.resolve("empty.txt"));
        refused(train("data.path=" + empty), "data.path: " + empty + " is empty (0 bytes)");
    }

    @Test
    void binaryDataIsRefusedForTheCharAndTheBpeTokenizer() throws Exception {
        byte[] random = new byte[200_000];
        new Random(7).nextBytes(random);
        Path binary = Files.write(tmp.resolve("weights.txt"), random);
        refused(train("data.path=" + binary), "data.path: " + binary + " is not UTF-8 text (invalid byte", "is it a binary file?");
        refused(train("data.path=" + binary, "data.tokenizer=bpe", "data.bpe_vocab_size=300"), "is not UTF-8 text");
        // UTF-16 text is valid UTF-8 byte by byte, but full of NULs
        Path utf16 = Files.writeString(tmp.resolve("utf16.txt"), "hello world\n".repeat(100),
                StandardCharsets.UTF_16LE);
        refused(train("data.path=" + utf16), "is not UTF-8 text (a NUL byte at offset 1)");
    }

    @Test
    void aMissingInitFromDirectoryIsRefusedBeforeAnyRankStarts() throws Exception {
        Path text = Files.writeString(tmp.resolve("t.txt"), "hello world, hello there\n".repeat(40));
        Path base = tmp.resolve("runs/no-base");
        refused(train("data.path=" + text, "checkpoint.init_from=" + base),
                "checkpoint.init_from: no such file or directory: " + base);
    }

    @Test
    void anEmptyConfigFileIsRefusedWithASuggestion() throws Exception {
        Files.writeString(tmp.resolve("shakespeare.yaml"), TINY);
        Path empty = Files.createFile(tmp.resolve("shakespear.yaml"));
        CliRun r = CliRun.of("train", "--config", empty.toString(), "--set", "run.dir=" + runDir);
        refused(r, "empty config: " + empty, "did you mean --config " + tmp.resolve("shakespeare.yaml"));
    }

    @Test
    void aBadValueFromSetSaysItCameFromSet() {
        refused(train("train.max_steps=abc"), "train.max_steps: expected an integer, got the string 'abc' [from --set "
                + "train.max_steps=abc]");
        refused(train("train.max_steps=0"), "train.max_steps: must be >= 1 (got 0) [from --set train.max_steps=0]");
    }
}
