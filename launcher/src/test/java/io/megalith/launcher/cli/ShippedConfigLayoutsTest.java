package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.launcher.testing.CliRun;
import io.megalith.launcher.testing.Repo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * runtime.workers: auto lets README's layout commands run on every shipped config: each layout README shows
 * (dp, ZeRO-3, tp, sequence parallel, 1F1B pipeline, expert parallel) loads on every config of a family that has
 * it, with one worker where the layout needs one; an explicit contradictory number is still refused.
 */
class ShippedConfigLayoutsTest {
    /** README's "Parallel layouts" and "Mixture of experts" commands, as --set lists. */
    private static final List<List<String>> DENSE_GPT = List.of(
            List.of("parallel.dp=2"),
            List.of("parallel.dp=2", "zero.stage=3"),
            List.of("parallel.tp=2"),
            List.of("parallel.tp=2", "parallel.sequence_parallel=true"),
            List.of("parallel.pp=2", "parallel.schedule=1f1b", "parallel.microbatches=4", "train.batch_size=3"));
    private static final List<List<String>> MOE_GPT = List.of(
            List.of("parallel.dp=2"),
            List.of("parallel.dp=2", "zero.stage=3"),
            List.of("parallel.pp=2", "parallel.schedule=1f1b", "parallel.microbatches=4", "train.batch_size=3"),
            List.of("parallel.dp=2", "parallel.ep=2"));
    /** BERT and the encoder-decoder: data and tensor parallelism. */
    private static final List<List<String>> OTHER_FAMILIES = List.of(List.of("parallel.dp=2"), List.of("parallel.tp=2"));

    @TempDir
    Path tmp;

    @Test
    void everyReadmeLayoutLoadsOnEveryShippedTrainConfig() throws Exception {
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (Path conf : Repo.shippedConfigs()) {
            if (!FinetuneCommand.isTrainFormat(conf) || conf.endsWith("seq2seq-reverse.yaml")) {
                continue; // the speaker experiment's format; the example program's config (no launcher keys)
            }
            // a config that leaves data.path to the user (gpt-finetune-text: "your text") gets the shipped text
            List<String> user = conf.endsWith("gpt-finetune-text.yaml") ? List.of("data.path=data/tinyshakespeare.txt")
                    : List.of();
            MegalithConfig base = ConfigLoader.load(conf, user);
            List<List<String>> layouts = !"gpt".equals(base.model().family()) ? OTHER_FAMILIES
                    : base.model().moe().enabled() ? MOE_GPT : DENSE_GPT;
            for (List<String> layout : layouts) {
                checked++;
                try {
                    List<String> sets = new ArrayList<>(user);
                    sets.addAll(layout);
                    MegalithConfig cfg = ConfigLoader.load(conf, sets);
                    if (cfg.oneWorkerReason() != null && cfg.runtime().workers() != 1) {
                        failures.add(conf.getFileName() + " " + layout + ": " + cfg.runtime().workers() + " workers");
                    }
                } catch (ConfigException e) {
                    failures.add(conf.getFileName() + " " + layout + ": " + e.getMessage());
                }
            }
        }
        assertThat(checked).isGreaterThanOrEqualTo(30);
        assertThat(failures).isEmpty();
    }

    @Test
    void autoGivesOneRankAWorkerPerCpuAndAnExplicitContradictionIsRefused() {
        Path conf = Repo.root().resolve("conf/shakespeare-char.yaml");
        assertThat(ConfigLoader.load(conf, List.of("runtime.threads=2")).runtime().workers()).isEqualTo(2);
        assertThat(ConfigLoader.load(conf, List.of("runtime.threads=2", "zero.stage=2")).runtime().workers()).isOne();
        assertThatThrownBy(() -> ConfigLoader.load(conf, List.of("runtime.workers=2", "parallel.tp=2")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("runtime.workers: must be 1 with parallel.tp > 1 (got 2); set runtime.workers=auto");
        assertThatThrownBy(() -> ConfigLoader.load(conf, List.of("runtime.workers=many")))
                .hasMessageContaining("runtime.workers: must be auto or an integer >= 1 (got the string 'many')");
    }

    @Test
    void shakespeareConfigTrainsAtTensorParallelTwoThroughTheCli() throws Exception {
        Path text = tmp.resolve("text.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; sb.length() < 20_000; i++) {
            sb.append("ROMEO:\nBut soft, what light through yonder window breaks ").append(i % 17).append(".\n\n");
        }
        Files.writeString(text, sb);
        Path run = tmp.resolve("run");
        CliRun r = CliRun.of("train", "--config", Repo.root().resolve("conf/shakespeare-char.yaml").toString(),
                "--set", "data.path=" + text, "--set", "run.dir=" + run, "--set", "parallel.tp=2",
                "--set", "train.max_steps=2", "--set", "train.eval_every=0", "--set", "train.eval_batches=1",
                "--set", "checkpoint.every=0");
        if (r.exit() != 0) {
            fail("exit " + r.exit() + ": " + r.err());
        }
        assertThat(r.out()).contains("2 rank(s) (dp 1 x tp 2 x pp 1)").contains("trained steps 0..2");
        assertThat(run.resolve("metrics.jsonl")).exists();
    }
}
