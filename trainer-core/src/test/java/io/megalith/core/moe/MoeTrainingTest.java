package io.megalith.core.moe;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.train.TinyRuns;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GPT with MoE blocks trains end to end: metrics.jsonl carries the routing metrics, and since capacity and the
 * load-balancing loss are per sequence, cutting the batch across worker threads or recomputing activations gives
 * the same losses.
 */
class MoeTrainingTest {
    @TempDir
    Path tmp;

    private MegalithConfig config(String name, String... overrides) throws Exception {
        Path text = TinyRuns.writeText(tmp, 6000);
        String[] all = new String[overrides.length + 6];
        all[0] = "model.moe.every=2";
        all[1] = "model.moe.experts=4";
        all[2] = "model.moe.capacity_factor=1.0";
        all[3] = "model.moe.aux_loss_coef=0.01";
        all[4] = "model.moe.z_loss_coef=0.001";
        all[5] = "model.dropout=0.1";
        System.arraycopy(overrides, 0, all, 6, overrides.length);
        return TinyRuns.text(tmp.resolve(name), text, all);
    }

    private List<Map<String, Object>> run(MegalithConfig cfg) throws Exception {
        TinyRuns.train(cfg, cfg.train().maxSteps());
        return TinyRuns.metrics(cfg);
    }

    @Test
    void trainsAndReportsRoutingMetrics() throws Exception {
        for (String k : List.of("1", "2")) {
            MegalithConfig cfg = config("k" + k, "model.moe.top_k=" + k);
            List<Map<String, Object>> rows = run(cfg);
            List<Double> loss = TinyRuns.series(rows, "loss");
            assertThat(loss).hasSize(12);
            assertThat(loss.get(11)).as("top-%s trains", k).isLessThan(loss.get(0));
            Map<String, Object> step = rows.stream().filter(r -> r.containsKey("loss")).findFirst().orElseThrow();
            assertThat(((Number) step.get("moe_aux_loss")).doubleValue()).isGreaterThanOrEqualTo(1.0 - 1e-6);
            assertThat(((Number) step.get("moe_z_loss")).doubleValue()).isPositive();
            assertThat(((Number) step.get("moe_dropped")).doubleValue()).isBetween(0.0, 1.0);
            long min = ((Number) step.get("moe_expert_tokens_min")).longValue();
            long max = ((Number) step.get("moe_expert_tokens_max")).longValue();
            assertThat(min).isLessThanOrEqualTo(max);
            // one MoE layer (block 1 of 2), 8 sequences of 16 tokens, k choices: kept assignments per expert
            assertThat(max).isLessThanOrEqualTo(8L * Routing.capacity(1.0, Integer.parseInt(k), 16, 4));
        }
    }

    @Test
    void zeroStagesAndResumeGiveTheSameLosses() throws Exception {
        List<Double> plain = TinyRuns.series(run(config("plain", "model.moe.top_k=2")), "loss");
        for (String stage : List.of("2", "3")) { // 3 recomputes every segment: the auxiliary losses are re-added
            List<Double> zero = TinyRuns.series(run(config("zero" + stage, "model.moe.top_k=2", "zero.stage=" + stage)),
                    "loss");
            for (int i = 0; i < plain.size(); i++) {
                assertThat(zero.get(i)).as("step %d, zero %s", i + 1, stage)
                        .isCloseTo(plain.get(i), Percentage.withPercentage(1e-3));
            }
        }
        // stopped at step 6 and resumed from its checkpoint (the training state keeps model.moe): the same run
        MegalithConfig cfg = config("resumed", "model.moe.top_k=2", "checkpoint.every=3");
        TinyRuns.train(cfg, 6);
        TinyRuns.train(cfg, cfg.train().maxSteps());
        List<Double> resumed = TinyRuns.series(TinyRuns.metrics(cfg), "loss");
        assertThat(resumed).hasSize(plain.size());
        for (int i = 0; i < plain.size(); i++) {
            assertThat(resumed.get(i)).as("step %d, resumed", i + 1).isCloseTo(plain.get(i), Percentage.withPercentage(1e-3));
        }
    }

    @Test
    void workersAndRecomputationGiveTheSameLosses() throws Exception {
        List<Double> one = TinyRuns.series(run(config("one", "model.moe.top_k=2")), "loss");
        List<Double> two = TinyRuns.series(run(config("two", "model.moe.top_k=2", "runtime.workers=2",
                "runtime.threads=2")), "loss");
        List<Double> ckpt = TinyRuns.series(run(config("ckpt", "model.moe.top_k=2",
                "train.activation_checkpointing=true")), "loss");
        for (int i = 0; i < one.size(); i++) {
            assertThat(two.get(i)).as("step %d, 2 workers", i + 1).isCloseTo(one.get(i), Percentage.withPercentage(1e-3));
            assertThat(ckpt.get(i)).as("step %d, recomputed", i + 1).isCloseTo(one.get(i), Percentage.withPercentage(1e-3));
        }
    }
}
