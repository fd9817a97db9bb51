package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.launcher.testing.CliRun;
import io.megalith.launcher.testing.Repo;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code megalith train --print-config} and {@code --dry-run}, through the CLI: exit 0, nothing written. */
class PrintConfigDryRunTest {
    @TempDir
    Path tmp;

    private final String shakespeare = Repo.root().resolve("conf/shakespeare-char.yaml").toString();
    /** The config's relative data.path as README's commands see it (they run in the repository root). */
    private final String data = "data.path=" + Repo.root().resolve("data/tinyshakespeare.txt");

    @Test
    void printConfigPrintsEveryKeyOfTheMergedConfigAsYamlThatLoadsBackEqual() throws Exception {
        Path run = tmp.resolve("run");
        CliRun r = CliRun.of("train", "--config", shakespeare, "--set", "run.dir=" + run, "--set", "train.max_steps=7",
                "--set", "parallel.tp=2", "--print-config");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("max_steps: 7").contains("n_embd: 128").contains("grad_bucket_mib:")
                .contains("workers: 1"); // auto, resolved for tp 2
        MegalithConfig back = ConfigLoader.fromYaml(r.out(), List.of(), "printed");
        assertThat(back).isEqualTo(ConfigLoader.load(Path.of(shakespeare), List.of("run.dir=" + run,
                "train.max_steps=7", "parallel.tp=2")));
        assertThat(run).doesNotExist();
    }

    @Test
    void dryRunPlansTheLayoutAndEstimatesMemoryPerRankWithoutWriting() {
        Path run = tmp.resolve("run");
        CliRun plain = CliRun.of("train", "--config", shakespeare, "--set", data, "--set", "run.dir=" + run, "--set",
                "parallel.dp=2",
                "--dry-run");
        assertThat(plain.exit()).as(plain.err()).isZero();
        // nanoGPT's Shakespeare model on its 65 characters: the parameter count the GPT itself reports
        assertThat(plain.out()).contains("world size 2 = dp 2 x tp 1 x pp 1, ZeRO stage 0")
                .contains("804,096 parameters (vocabulary 65").contains("nothing written");
        CliRun zero3 = CliRun.of("train", "--config", shakespeare, "--set", data, "--set", "run.dir=" + run, "--set",
                "parallel.dp=2",
                "--set", "zero.stage=3", "--dry-run");
        assertThat(zero3.exit()).as(zero3.err()).isZero();
        // ZeRO-3 over 2 ranks halves each rank's parameters, gradients and AdamW state
        assertThat(mib(zero3.out(), "parameters")).isCloseTo(mib(plain.out(), "parameters") / 2, within(0.1));
        assertThat(mib(zero3.out(), "AdamW state")).isCloseTo(mib(plain.out(), "AdamW state") / 2, within(0.1));
        assertThat(run).doesNotExist();
        assertThat(plain.out()).doesNotContain("Spark barrier stage");
    }

    @Test
    void reportLossAxisIsPrintedAndABadOneRefusedNamingTheKeyAndTheChoices() {
        Path run = tmp.resolve("run");
        CliRun log = CliRun.of("train", "--config", shakespeare, "--set", "run.dir=" + run, "--set",
                "report.loss_axis=log", "--print-config");
        assertThat(log.exit()).as(log.err()).isZero();
        assertThat(log.out()).contains("report:\n  loss_axis: log\n");
        CliRun bad = CliRun.of("train", "--config", shakespeare, "--set", "run.dir=" + run, "--set", data, "--set",
                "report.loss_axis=sideways");
        assertThat(bad.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(bad.err()).contains("report.loss_axis: must be one of auto, linear, log (got 'sideways')");
        assertThat(run).doesNotExist();
    }

    @Test
    void dryRunStillRefusesAMissingDataFile() {
        CliRun r = CliRun.of("train", "--config", shakespeare, "--set", "run.dir=" + tmp.resolve("run"),
                "--set", "data.path=" + tmp.resolve("missing.txt"), "--dry-run");
        assertThat(r.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(r.err()).contains("data.path: no such file or directory");
    }

    private static Offset<Double> within(double d) {
        return Offset.offset(d);
    }

    private static double mib(String out, String what) {
        Matcher m = Pattern.compile(what + " ([0-9.]+) MiB").matcher(out);
        assertThat(m.find()).as(what + " in " + out).isTrue();
        return Double.parseDouble(m.group(1));
    }
}
