package io.megalith.core.family.dit;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.testing.InJvmRanks;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.report.MetricsLog;
import io.megalith.parallel.mesh.DeviceMesh;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dit family trained in process through {@link TrainingRun} on data.builtin shapes: held-out diffusion losses in
 * metrics.jsonl, and a run stopped at its step-3 checkpoint and resumed gives the losses and EMA tensors of a run
 * that never stopped, bit for bit; the diffusion section's errors name their key.
 */
class DitRunTest {
    @TempDir
    Path tmp;

    static MegalithConfig config(Path runDir, String... overrides) {
        String yaml = """
                seed: 11
                run: {dir: "%s", name: tiny-dit}
                model: {family: dit, n_layer: 2, n_head: 4, n_embd: 32, dropout: 0.0, patch_size: 7}
                data: {task: images, builtin: shapes}
                diffusion: {timesteps: 100, ema_decay: 0.9, sample_steps: 5}
                train: {max_steps: 6, batch_size: 8, lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 2, eval_every: 3,
                        eval_batches: 1}
                checkpoint: {every: 3, keep_last: 0}
                runtime: {threads: 1}
                """.formatted(runDir);
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "tiny dit");
    }

    @Test
    void aResumedRunHasTheLossesAndEmaOfAnUninterruptedOne() throws Exception {
        resumesBitForBit("replicated");
    }

    /** ZeRO-3 partitions the weights: the EMA is kept of the shard this rank owns. */
    @Test
    void aResumedRunAtZero3HasTheLossesAndEmaOfAnUninterruptedOne() throws Exception {
        resumesBitForBit("zero3", "zero.stage=3");
    }

    private void resumesBitForBit(String name, String... overrides) throws Exception {
        MegalithConfig straight = config(tmp.resolve(name + "-straight"), overrides);
        Map<String, float[]> emaStraight;
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(straight, TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run();
            emaStraight = ((DitRun) run.rankModel()).emaValues();
        }
        MegalithConfig stopped = config(tmp.resolve(name + "-stopped"), overrides);
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(stopped, TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run(3);
        }
        Map<String, float[]> emaResumed;
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(stopped, TinyRuns.CONF, TinyRuns.QUIET)) {
            assertThat(run.startStep()).isEqualTo(3);
            run.run();
            emaResumed = ((DitRun) run.rankModel()).emaValues();
        }
        assertThat(column(stopped, "loss")).hasSize(6).containsExactlyElementsOf(column(straight, "loss"));
        List<Double> valLosses = column(straight, "val_loss");
        assertThat(valLosses).hasSize(2).allSatisfy(v -> assertThat(v).isPositive().isFinite());
        assertThat(column(stopped, "val_loss")).containsExactlyElementsOf(valLosses);
        assertThat(emaResumed.keySet()).containsExactlyElementsOf(emaStraight.keySet());
        emaStraight.forEach((p, v) -> assertThat(emaResumed.get(p)).as(p).containsExactly(v));
    }

    /** Under tp each rank keeps the EMA of its slices; a resume gives each rank its slices of the saved average. */
    @Test
    void atTp2AResumedRunHasTheLossesAndEmaOfAnUninterruptedOne() throws Exception {
        MegalithConfig straight = config(tmp.resolve("tp-straight"), "parallel.tp=2");
        MegalithConfig stopped = config(tmp.resolve("tp-stopped"), "parallel.tp=2");
        List<Map<String, float[]>> emaStraight = onTwoRanks(straight, Long.MAX_VALUE);
        onTwoRanks(stopped, 3);
        List<Map<String, float[]>> emaResumed = onTwoRanks(stopped, Long.MAX_VALUE);
        assertThat(column(stopped, "loss")).hasSize(6).containsExactlyElementsOf(column(straight, "loss"));
        for (int r = 0; r < 2; r++) {
            Map<String, float[]> resumed = emaResumed.get(r);
            emaStraight.get(r).forEach((p, v) -> assertThat(resumed.get(p)).as(p).containsExactly(v));
        }
    }

    /** Each rank's EMA after training to {@code stopAt} at tp=2 (in-JVM ranks). */
    private static List<Map<String, float[]>> onTwoRanks(MegalithConfig cfg, long stopAt) throws Exception {
        return InJvmRanks.run(DeviceMesh.of(1, 2, 1), ctx -> {
            boolean leader = ctx.rankGroups().tensorParallel().rank() == 0;
            try (TrainingRun run = ModelFamilies.DIT.newRun(cfg, TinyRuns.CONF, TinyRuns.QUIET, ctx.rankGroups(),
                    leader, null)) {
                run.run(stopAt);
                return ((DitRun) run.rankModel()).emaValues();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static List<Double> column(MegalithConfig cfg, String key) throws Exception {
        List<Double> out = new ArrayList<>();
        for (Map<String, Object> rec : MetricsLog.read(cfg.run().dir(), TinyRuns.CONF)) {
            if (rec.get(key) instanceof Number n) {
                out.add(n.doubleValue());
            }
        }
        return out;
    }

    @Test
    void diffusionErrorsNameTheirKey() {
        assertThat(problems("diffusion.schedule=quadratic")).anyMatch(p -> p.startsWith("diffusion.schedule:"));
        assertThat(problems("diffusion.prediction=x0")).anyMatch(p -> p.startsWith("diffusion.prediction:"));
        assertThat(problems("diffusion.sampler=euler")).anyMatch(p -> p.startsWith("diffusion.sampler:"));
        assertThat(problems("diffusion.ema_decay=1")).anyMatch(p -> p.startsWith("diffusion.ema_decay:"));
        assertThat(problems("diffusion.class_dropout=-0.1")).anyMatch(p -> p.startsWith("diffusion.class_dropout:"));
        assertThat(problems("diffusion.sample_steps=200")).anyMatch(p -> p.startsWith("diffusion.sample_steps: must be "
                + "<= diffusion.timesteps"));
        assertThat(problems("diffusion.stepz=3")).anyMatch(p -> p.contains("diffusion.stepz"));
        assertThat(problems("data.task=text", "data.path=x")).anyMatch(p -> p.startsWith("data.task: model.family dit"));
        assertThat(problems("zero.stage=3", "parallel.dp=2", "finetune.freeze=[final_layer.]"))
                .anyMatch(p -> p.startsWith("finetune.freeze: model.family dit's EMA under zero.stage 3"));
        assertThat(problems("zero.stage=1", "parallel.dp=2", "finetune.freeze=[final_layer.]")).isEmpty();
        assertThat(problems()).isEmpty();
    }

    private List<String> problems(String... sets) {
        try {
            config(tmp.resolve("unused"), sets);
            return List.of();
        } catch (ConfigException e) {
            return e.problems();
        }
    }
}
