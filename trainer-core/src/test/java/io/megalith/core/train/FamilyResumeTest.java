package io.megalith.core.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.report.LossChart;
import io.megalith.core.train.report.MetricsLog;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * BERT and encoder-decoder runs ({@link TrainingRun} over family/bert/BertRun and family/seq2seq/Seq2SeqRun)
 * checkpoint and resume like the GPT's: a run stopped
 * after step 5 resumes from its step-3 checkpoint and reproduces the uninterrupted run's losses and final parameters
 * bit for bit (one libtorch thread; dropout and grad_accum 2, so the per-step random streams are exercised); a
 * corrupt newest checkpoint falls back to the previous one; a run.dir of another model is refused.
 */
class FamilyResumeTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());
    static final Configuration HADOOP = new Configuration();

    @TempDir
    Path tmp;

    private MegalithConfig config(String family, String dir, String... overrides) {
        String model = "bert".equals(family)
                ? "{family: bert, n_layer: 2, n_head: 2, n_embd: 32, block_size: 8, dropout: 0.1, bias: true}"
                : "{family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 2, n_head: 2, n_embd: 32, dropout: 0.1}";
        String data = "bert".equals(family) ? "{task: addition, digits: 2, held_out_fraction: 0.1, eval_pairs: 20}"
                : "{task: reverse, min_len: 2, max_len: 5, held_out_fraction: 0.1, eval_pairs: 20}";
        String yaml = """
                seed: 5
                run: {dir: "%s", name: family-resume}
                model: %s
                data: %s
                train: {max_steps: 8, batch_size: 4, grad_accum: 2, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 2}
                checkpoint: {every: 3, keep_last: 2}
                runtime: {threads: 1}
                """.formatted(tmp.resolve(dir), model, data);
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "family resume test");
    }

    private static long train(MegalithConfig cfg, long stopAt) throws Exception {
        try (TrainingRun run = ModelFamilies.of(cfg).newRun(cfg,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            run.run(stopAt);
            return run.startStep();
        }
    }

    private static Map<String, HostTensor> finalWeights(MegalithConfig cfg) throws Exception {
        try (TrainingRun run = ModelFamilies.of(cfg).newRun(cfg,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            assertThat(run.startStep()).isEqualTo(cfg.train().maxSteps());
            return run.fullParameters();
        }
    }

    static List<Double> series(MegalithConfig cfg, String key) throws Exception {
        return MetricsLog.read(cfg.run().dir(), HADOOP).stream().filter(r -> r.containsKey(key))
                .map(r -> ((Number) r.get(key)).doubleValue()).toList();
    }

    @ParameterizedTest
    @ValueSource(strings = {"encoder_decoder", "bert"})
    void aStoppedRunResumesFromItsCheckpointBitForBit(String family) throws Exception {
        MegalithConfig straight = config(family, "straight");
        MegalithConfig crashed = config(family, "crashed");
        assertThat(train(straight, Long.MAX_VALUE)).isZero();
        assertThat(train(crashed, 5)).isZero();
        CheckpointStore store = new CheckpointStore(crashed.run().dir(), HADOOP, 0);
        assertThat(store.completeSteps()).containsExactly(3L);
        assertThat(series(crashed, "loss")).hasSize(5);

        assertThat(train(crashed, Long.MAX_VALUE)).as("resumed from the step-3 checkpoint").isEqualTo(3);
        assertThat(series(crashed, "loss")).as("losses after resume").isEqualTo(series(straight, "loss"));
        assertThat(series(crashed, "loss")).hasSize(8);
        assertThat(series(crashed, "val_loss")).isEqualTo(series(straight, "val_loss"));
        List<Long> steps = MetricsLog.read(crashed.run().dir(), HADOOP).stream()
                .map(r -> ((Number) r.get("step")).longValue()).toList();
        assertThat(steps).as("one line per step, then the evaluation").containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L,
                8L);
        assertThat(store.completeSteps()).as("keep_last 2").containsExactly(6L, 8L);
        assertThat(Files.exists(Path.of(crashed.run().dir(), LossChart.FILE_NAME))).isTrue();

        Map<String, HostTensor> w1 = finalWeights(straight);
        Map<String, HostTensor> w2 = finalWeights(crashed);
        assertThat(w2.keySet()).isEqualTo(w1.keySet());
        for (String tensor : w1.keySet()) {
            assertThat(w2.get(tensor).contentEquals(w1.get(tensor))).as(tensor).isTrue();
        }
        RunState state = ShardedCheckpointer.peekLatest(store).orElseThrow().state();
        assertThat(state.family()).isEqualTo(family);
        assertThat(state.model()).isNull();
        assertThat(state.step()).isEqualTo(8);
        assertThat(state.optimizerStep()).isEqualTo(8);
    }

    @Test
    void aCorruptNewestCheckpointIsSkippedForThePreviousOne() throws Exception {
        MegalithConfig straight = config("encoder_decoder", "straight");
        MegalithConfig crashed = config("encoder_decoder", "crashed");
        train(straight, Long.MAX_VALUE);
        train(crashed, 7);
        CheckpointStore store = new CheckpointStore(crashed.run().dir(), HADOOP, 0);
        assertThat(store.completeSteps()).containsExactly(3L, 6L);
        ResumeTest.flipByte(Path.of(crashed.run().dir(), "checkpoints", "step-00000006", "model-r00000.safetensors"),
                0.6);
        assertThat(train(crashed, Long.MAX_VALUE)).as("the corrupt step-6 checkpoint must not be loaded").isEqualTo(3);
        assertThat(series(crashed, "loss")).isEqualTo(series(straight, "loss"));
    }

    @Test
    void aRunDirOfAnotherModelIsRefused() throws Exception {
        MegalithConfig cfg = config("encoder_decoder", "run", "train.max_steps=3");
        train(cfg, Long.MAX_VALUE);
        assertThatThrownBy(() -> train(config("encoder_decoder", "run", "model.n_embd=48"), Long.MAX_VALUE))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("holds checkpoints of a different model")
                .hasMessageContaining("encoder_decoder");
        assertThatThrownBy(() -> train(config("bert", "run"), Long.MAX_VALUE))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("holds checkpoints of a different model");
        MegalithConfig gpt = ConfigLoader.fromYaml("run: {dir: \"" + cfg.run().dir() + "\"}\ndata: {task: addition}\n"
                + "runtime: {threads: 1}\n", List.of(), "gpt");
        assertThatThrownBy(() -> ModelFamilies.GPT.newInProcessRun(gpt, HADOOP, QUIET).close()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("model.family encoder_decoder");
    }
}
