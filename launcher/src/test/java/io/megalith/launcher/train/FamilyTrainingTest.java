package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.RankGroups;
import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.report.MetricsLog;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code model.family: encoder_decoder} through the same launcher, config and parallel layouts as the GPT: two
 * tensor-parallel ranks as one Spark barrier stage (Netty between them) reproduce the one-rank run's losses step
 * for step, metrics written once by rank 0, exact match measured at the end; a failed attempt restarts from the
 * last checkpoint, and a tp=2 checkpoint resumes on one rank.
 */
class FamilyTrainingTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());
    static final Configuration HADOOP = new Configuration();

    @TempDir
    static Path tmp;

    static MegalithConfig config(String runDir, String... overrides) {
        String yaml = """
                seed: 5
                run: {dir: "%s", name: family-test}
                model: {family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 2, n_head: 2, n_embd: 32,
                        dropout: 0.1}
                data: {task: reverse, min_len: 2, max_len: 5, held_out_fraction: 0.1, eval_pairs: 20}
                train: {max_steps: 6, batch_size: 4, grad_accum: 2, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 2}
                runtime: {threads: 1}
                comm: {deadline_seconds: 20}
                """.formatted(tmp.resolve(runDir));
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "family test");
    }

    static List<Double> series(MegalithConfig cfg, String key) throws Exception {
        return MetricsLog.read(cfg.run().dir(), HADOOP).stream().filter(r -> r.containsKey(key))
                .map(r -> ((Number) r.get(key)).doubleValue()).toList();
    }

    @Test
    void encoderDecoderAtTp2OnSparkReproducesOneRank() throws Exception {
        MegalithConfig one = config("one", "launch.master=inprocess");
        try (TrainingRun run = ModelFamilies.of(one).newRun(one,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            run.run();
        }
        MegalithConfig two = config("two", "parallel.tp=2");
        TrainingRun.Summary summary = DistributedTraining.run(two, QUIET);
        assertThat(summary.endStep()).isEqualTo(6);
        assertThat(summary.exactMatch()).isNotNull();
        List<Double> lossOne = series(one, "loss");
        List<Double> lossTwo = series(two, "loss");
        assertThat(lossTwo).hasSize(6);
        for (int i = 0; i < lossOne.size(); i++) {
            assertThat(lossTwo.get(i)).as("step %d", i + 1).isCloseTo(lossOne.get(i), Percentage.withPercentage(1e-3));
        }
        assertThat(series(two, "exact_match")).hasSize(1);
    }

    /** BERT masked-LM pre-training on the addition task's tokens: tp=2 on Spark reproduces one rank. */
    @Test
    void bertAtTp2OnSparkReproducesOneRank() throws Exception {
        String[] bert = {"model.family=bert", "model.n_layer=2", "model.block_size=8", "data.task=addition",
                "data.digits=2", "model.bias=true"};
        List<String> one = new ArrayList<>(List.of(bert));
        one.add("launch.master=inprocess");
        MegalithConfig a = config("bert-one", one.toArray(String[]::new));
        try (TrainingRun run = ModelFamilies.of(a).newRun(a,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            run.run();
        }
        List<String> two = new ArrayList<>(List.of(bert));
        two.add("parallel.tp=2");
        MegalithConfig b = config("bert-two", two.toArray(String[]::new));
        TrainingRun.Summary summary = DistributedTraining.run(b, QUIET);
        assertThat(summary.endStep()).isEqualTo(6);
        List<Double> lossOne = series(a, "loss");
        List<Double> lossTwo = series(b, "loss");
        assertThat(lossTwo).hasSize(6);
        for (int i = 0; i < lossOne.size(); i++) {
            assertThat(lossTwo.get(i)).as("step %d", i + 1).isCloseTo(lossOne.get(i), Percentage.withPercentage(1e-3));
        }
        assertThat(series(b, "val_loss")).hasSize(1);
        assertThat(series(b, "val_loss").get(0)).isCloseTo(series(a, "val_loss").get(0), Percentage.withPercentage(1e-3));
    }

    /**
     * A failed Spark attempt of an encoder-decoder run (rank 1 dies after step 5) restarts from the step-3 checkpoint
     * instead of step 0, and reproduces the clean run's losses and final parameters exactly.
     */
    @Test
    void encoderDecoderAtTp2RestartsFromItsCheckpointAfterAFailure() throws Exception {
        MegalithConfig clean = config("restart-clean", "parallel.tp=2", "checkpoint.every=3");
        DistributedTraining.run(clean, QUIET);
        MegalithConfig faulty = config("restart-faulty", "parallel.tp=2", "checkpoint.every=3");
        System.setProperty(FaultInjection.PROPERTY, "1:5:1"); // rank 1 dies after step 5 of attempt 1
        TrainingRun.Summary summary;
        try {
            summary = DistributedTraining.run(faulty, QUIET);
        } finally {
            System.clearProperty(FaultInjection.PROPERTY);
        }
        assertThat(summary.startStep()).as("the second attempt resumed from the step-3 checkpoint").isEqualTo(3);
        assertThat(summary.endStep()).isEqualTo(6);
        assertThat(series(faulty, "loss")).as("losses after recovery").isEqualTo(series(clean, "loss"));
        assertThat(series(faulty, "exact_match")).isEqualTo(series(clean, "exact_match"));
        assertThat(MetricsLog.read(faulty.run().dir(), HADOOP)).as("one line per step and the evaluation").hasSize(7);
        Map<String, HostTensor> w1 = finalWeights(clean);
        Map<String, HostTensor> w2 = finalWeights(faulty);
        for (String tensor : w1.keySet()) {
            assertThat(w2.get(tensor).contentEquals(w1.get(tensor))).as(tensor).isTrue();
        }
    }

    /** A checkpoint saved at tp=2 (Spark) resumes on one rank (resharded): the losses follow the one-rank run's. */
    @Test
    void encoderDecoderSavedAtTp2ResumesAtTp1() throws Exception {
        MegalithConfig straight = config("reshard-one", "launch.master=inprocess", "train.max_steps=9",
                "train.lr_decay_steps=9");
        try (TrainingRun run = ModelFamilies.of(straight).newRun(straight,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            run.run();
        }
        MegalithConfig two = config("reshard", "parallel.tp=2", "train.max_steps=5", "train.lr_decay_steps=9");
        DistributedTraining.run(two, QUIET);
        MegalithConfig one = config("reshard", "launch.master=inprocess", "train.max_steps=9", "train.lr_decay_steps=9");
        try (TrainingRun run = ModelFamilies.of(one).newRun(one,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            assertThat(run.startStep()).isEqualTo(5);
            run.run();
        }
        List<Double> expected = series(straight, "loss");
        List<Double> resumed = series(one, "loss");
        assertThat(resumed).hasSize(9);
        for (int i = 0; i < expected.size(); i++) {
            assertThat(resumed.get(i)).as("step %d", i + 1).isCloseTo(expected.get(i), Percentage.withPercentage(1e-3));
        }
    }

    private static Map<String, HostTensor> finalWeights(MegalithConfig cfg) throws Exception {
        MegalithConfig one = ConfigLoader.fromYaml(ConfigLoader.toYaml(cfg), List.of("parallel.tp=1",
                "launch.master=inprocess"), "one rank");
        try (TrainingRun run = ModelFamilies.of(one).newRun(one,
                HADOOP, QUIET, RankGroups.single(), true, null)) {
            assertThat(run.startStep()).isEqualTo(cfg.train().maxSteps());
            return run.fullParameters();
        }
    }

    @Test
    void familiesRefuseWhatTheirTrainerDoesNotRun() {
        assertThatThrownBy(() -> config("x", "parallel.pp=2")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("parallel.pp: model.family encoder_decoder");
        assertThatThrownBy(() -> config("x", "data.task=addition")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("data.task: model.family encoder_decoder trains on data.task reverse");
        assertThatThrownBy(() -> config("x", "model.family=bert")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("data.task: model.family bert pre-trains (masked LM)");
        assertThatThrownBy(() -> config("x", "model.family=gpt")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("data.task: reverse is the encoder_decoder task");
    }
}
