package io.megalith.core.family.dit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.model.dit.TextToImage;
import io.megalith.core.testing.InJvmRanks;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import io.megalith.parallel.mesh.DeviceMesh;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The text-to-image DiT (model.family dit, data.task captions on data.builtin shapes' wide canvases) trained in
 * process through {@link TrainingRun}, its text encoder with it: dp=2 (ZeRO 0 and 2) and tp=2 (in-JVM ranks) give the
 * losses of one rank (1e-5 relative); a run stopped at its step-3 checkpoint and resumed gives the losses, held-out
 * losses and EMA (the text encoder's weights among them) of a run that never stopped, bit for bit; a resume on other
 * captions is refused. The dry run counts the model's parameters.
 */
class CaptionDitRunTest {
    @TempDir
    Path tmp;

    static MegalithConfig config(Path runDir, String... overrides) {
        String yaml = """
                seed: 13
                run: {dir: "%s", name: tiny-t2i}
                model: {family: dit, n_layer: 2, n_head: 4, n_embd: 32, dropout: 0.0, patch_size: 7, text_len: 48,
                        text_layers: 1}
                data: {task: captions, builtin: shapes, tokenizer: char, captions: {held_out_pairs: 4}}
                diffusion: {timesteps: 100, ema_decay: 0.9, sample_steps: 5, class_dropout: 0.25}
                train: {max_steps: 6, batch_size: 8, lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 2, eval_every: 3,
                        eval_batches: 1}
                checkpoint: {every: 3, keep_last: 0}
                runtime: {threads: 1}
                """.formatted(runDir);
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "tiny t2i");
    }

    /** Trains to {@code stopAt} on the layout {@code mesh} (dp, tp, pp), returning the leader's EMA. */
    static Map<String, float[]> train(MegalithConfig cfg, DeviceMesh mesh, long stopAt) throws Exception {
        return InJvmRanks.run(mesh, ctx -> {
            boolean leader = ctx.rankGroups().dataParallel().rank() == 0
                    && ctx.rankGroups().tensorParallel().rank() == 0;
            try (TrainingRun run = ModelFamilies.DIT.newRun(cfg, TinyRuns.CONF, TinyRuns.QUIET, ctx.rankGroups(),
                    leader, null)) {
                run.run(stopAt);
                return ((CaptionDitRun) run.rankModel()).emaValues();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }).get(0);
    }

    static List<Double> column(MegalithConfig cfg, String key) throws IOException {
        return TinyRuns.series(TinyRuns.metrics(cfg).stream().filter(r -> r.containsKey(key)).toList(), key);
    }

    @Test
    void dp2AndTp2TrainAsOneRank() throws Exception {
        MegalithConfig one = config(tmp.resolve("one"));
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(one, TinyRuns.CONF, TinyRuns.QUIET)) {
            CaptionDitRun t2i = (CaptionDitRun) run.rankModel();
            long params = new TextToImage(t2i.ditConfig(), t2i.textConfig()).parameters().stream()
                    .mapToLong(p -> p.numel()).sum();
            assertThat(ModelFamilies.DIT.parameterCount(one, t2i.textConfig().vocabSize() - 1))
                    .as("the dry run's count").isEqualTo(params);
            run.run();
        }
        List<Double> losses = column(one, "loss");
        assertThat(losses).hasSize(6).allSatisfy(v -> assertThat(v).isPositive().isFinite());
        for (String layout : List.of("parallel.dp=2", "parallel.tp=2", "zero.stage=2")) {
            // zero.stage=2 at dp=2: the EMA kept per dp shard of the DiT's and the encoder's weights
            MegalithConfig cfg = layout.startsWith("zero") ? config(tmp.resolve(layout), layout, "parallel.dp=2")
                    : config(tmp.resolve(layout), layout);
            train(cfg, cfg.parallel().dp() == 2 ? DeviceMesh.of(2, 1, 1) : DeviceMesh.of(1, 2, 1), Long.MAX_VALUE);
            List<Double> other = column(cfg, "loss");
            assertThat(other).hasSize(6);
            for (int s = 0; s < 6; s++) {
                assertThat(other.get(s)).as("%s step %d", layout, s + 1).isCloseTo(losses.get(s),
                        Percentage.withPercentage(1e-3));
            }
            List<Double> val = column(cfg, "val_loss");
            assertThat(val).hasSize(2);
            for (int i = 0; i < 2; i++) {
                assertThat(val.get(i)).as("%s held-out loss %d", layout, i).isCloseTo(column(one, "val_loss").get(i),
                        Percentage.withPercentage(1e-3));
            }
        }
    }

    @Test
    void aFrozenTextEncoderKeepsItsWeightsAndThePooledCaptionTrains() throws Exception {
        MegalithConfig cfg = config(tmp.resolve("frozen"), "finetune.freeze=[text_encoder]", "model.pooled_text=true");
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(cfg, TinyRuns.CONF, TinyRuns.QUIET)) {
            Map<String, HostTensor> before = run.fullParameters();
            run.run();
            Map<String, HostTensor> after = run.fullParameters();
            assertThat(before).containsKeys("text_encoder.token_embed.weight", "text_pool.weight");
            before.forEach((name, t) -> {
                boolean same = java.util.Arrays.equals(t.toFloats(), after.get(name).toFloats());
                if (name.startsWith("text_encoder.") || name.equals("text_pool.weight") || name.equals("patch.weight")) {
                    assertThat(same).as("%s unchanged", name).isEqualTo(name.startsWith("text_encoder."));
                }
            });
        }
    }

    @Test
    void aResumedRunHasTheLossesAndEmaOfAnUninterruptedOneAndRefusesOtherCaptions() throws Exception {
        MegalithConfig straight = config(tmp.resolve("straight"));
        Map<String, float[]> emaStraight;
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(straight, TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run();
            emaStraight = ((CaptionDitRun) run.rankModel()).emaValues();
        }
        MegalithConfig stopped = config(tmp.resolve("stopped"));
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(stopped, TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run(3);
        }
        Map<String, float[]> emaResumed;
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(stopped, TinyRuns.CONF, TinyRuns.QUIET)) {
            assertThat(run.startStep()).isEqualTo(3);
            run.run();
            emaResumed = ((CaptionDitRun) run.rankModel()).emaValues();
        }
        assertThat(column(stopped, "loss")).hasSize(6).containsExactlyElementsOf(column(straight, "loss"));
        List<Double> val = column(straight, "val_loss");
        assertThat(val).hasSize(2).allSatisfy(v -> assertThat(v).isPositive().isFinite());
        assertThat(column(stopped, "val_loss")).containsExactlyElementsOf(val);
        assertThat(emaStraight.keySet()).contains("null_text", "blocks.1.cross.kv.weight",
                "text_encoder.token_embed.weight", "text_encoder.layers.0.attn.qkv.weight", "text_encoder.ln_f.weight");
        assertThat(emaResumed.keySet()).containsExactlyElementsOf(emaStraight.keySet());
        emaStraight.forEach((p, v) -> assertThat(emaResumed.get(p)).as(p).containsExactly(v));
        MegalithConfig other = config(tmp.resolve("stopped"), "data.captions.held_out_pairs=2");
        assertThatThrownBy(() -> ModelFamilies.DIT.newInProcessRun(other, TinyRuns.CONF, TinyRuns.QUIET).close())
                .hasMessageContaining("another tokenizer than this run's data");
    }
}
