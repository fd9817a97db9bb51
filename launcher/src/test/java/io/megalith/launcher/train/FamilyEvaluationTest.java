package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.RankGroups;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.report.MetricsLog;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Periodic held-out evaluation of family runs ({@code train.eval_every}): records {step, val_loss, exact_match}
 * (encoder-decoder) or {step, val_loss, mlm_accuracy} (BERT) at every eval_every-th step and at the end, which the
 * driver prints; the reversal's exact match rises as it trains.
 */
class FamilyEvaluationTest {
    static final Configuration HADOOP = new Configuration();

    @TempDir
    Path tmp;

    static List<Map<String, Object>> evals(MegalithConfig cfg) throws Exception {
        return MetricsLog.read(cfg.run().dir(), HADOOP).stream().filter(r -> r.containsKey("val_loss")).toList();
    }

    static double num(Map<String, Object> r, String key) {
        return ((Number) r.get(key)).doubleValue();
    }

    @Test
    void encoderDecoderAtDp2EvaluatesEveryFiftyStepsAndExactMatchRises() throws Exception {
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                seed: 7
                run: {dir: "%s", name: reverse-eval}
                model: {family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 1, n_head: 2, n_embd: 32,
                        dropout: 0.0}
                data: {task: reverse, min_len: 2, max_len: 4, held_out_fraction: 0.1, eval_pairs: 50}
                train: {max_steps: 200, batch_size: 32, lr: 4.0e-3, min_lr: 4.0e-4, warmup_steps: 20,
                        weight_decay: 0.01, eval_every: 50}
                parallel: {dp: 2}
                runtime: {threads: 1}
                comm: {deadline_seconds: 30}
                """.formatted(tmp.resolve("reverse")), List.of(), "eval test");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        DistributedTraining.run(cfg, new PrintStream(out, true, StandardCharsets.UTF_8));
        List<Map<String, Object>> evals = evals(cfg);
        System.out.println("evaluations: " + evals);
        assertThat(evals.stream().map(r -> num(r, "step"))).containsExactly(50.0, 100.0, 150.0, 200.0);
        assertThat(evals).allSatisfy(r -> assertThat(r).containsKeys("val_loss", "exact_match"));
        assertThat(num(evals.get(3), "exact_match")).isGreaterThan(num(evals.get(0), "exact_match")).isGreaterThan(0.5);
        assertThat(num(evals.get(3), "val_loss")).isLessThan(num(evals.get(0), "val_loss"));
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("step 50: val loss").contains("step 100: val loss")
                .contains("exact match");
    }

    @Test
    void bertEvaluatesMaskedLmLossAndAccuracyPeriodically() throws Exception {
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                seed: 5
                run: {dir: "%s", name: bert-eval}
                model: {family: bert, n_layer: 1, n_head: 2, n_embd: 32, block_size: 8, dropout: 0.0, bias: true}
                data: {task: addition, digits: 2}
                train: {max_steps: 30, batch_size: 16, lr: 3.0e-3, warmup_steps: 2, eval_every: 10, eval_batches: 2}
                launch: {master: inprocess}
                runtime: {threads: 1}
                """.formatted(tmp.resolve("bert")), List.of(), "eval test");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TrainingRun run = ModelFamilies.of(cfg).newRun(cfg, HADOOP,
                new PrintStream(out, true, StandardCharsets.UTF_8), RankGroups.single(), true, null)) {
            run.run();
        }
        List<Map<String, Object>> evals = evals(cfg);
        System.out.println("evaluations: " + evals);
        assertThat(evals.stream().map(r -> num(r, "step"))).containsExactly(10.0, 20.0, 30.0);
        assertThat(evals).allSatisfy(r -> assertThat(num(r, "mlm_accuracy")).isBetween(0.0, 1.0));
        assertThat(num(evals.get(2), "val_loss")).isLessThan(num(evals.get(0), "val_loss"));
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("step 10: masked-LM validation loss");
    }
}
