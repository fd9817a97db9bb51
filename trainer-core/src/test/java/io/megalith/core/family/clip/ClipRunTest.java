package io.megalith.core.family.clip;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.inference.ClipRetrieval;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedClip;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.testing.SyntheticCaptions;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The clip family trained in process through {@link TrainingRun} on synthetic captioned canvases (data/captions is
 * not needed): 6 steps equal 3 steps, a resume and 3 more, bit for bit (losses and weights); a longer run learns
 * (zero-shot accuracy far above chance in metrics.jsonl) and loads as a {@link TrainedClip}.
 */
class ClipRunTest {
    @TempDir
    Path tmp;

    static MegalithConfig config(Path runDir, String... overrides) {
        String yaml = """
                seed: 5
                run: {dir: "%s", name: tiny-clip}
                model: {family: clip, n_layer: 2, n_head: 2, n_embd: 32, dropout: 0.1, bias: true, patch_size: 4,
                        pool: mean, pos_emb: sincos, embed_dim: 32, text_len: 36, text_mask: causal}
                data: {task: captions, builtin: shapes, tokenizer: char}
                train: {max_steps: 6, batch_size: 16, grad_accum: 1, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 2,
                        eval_every: 3, eval_batches: 2, weight_decay: 0.05}
                checkpoint: {every: 3, keep_last: 0}
                runtime: {threads: 1}
                """.formatted(runDir);
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "tiny clip");
    }

    static SyntheticCaptions data() {
        return new SyntheticCaptions(8, 64, 3);
    }

    static TrainingRun run(MegalithConfig cfg) throws IOException {
        return new TrainingRun(ctx -> new ClipRun(ctx, data()), cfg, TinyRuns.CONF, TinyRuns.QUIET,
                RankGroups.single(), true, null);
    }

    static Map<String, HostTensor> weights(MegalithConfig cfg, long step) throws IOException {
        CheckpointStore store = new CheckpointStore(cfg.run().dir(), TinyRuns.CONF, 0);
        return store.assemble(step, store.manifest(step), n -> true);
    }

    @Test
    void sixStepsEqualThreeAResumeAndThree() throws Exception {
        MegalithConfig straight = config(tmp.resolve("straight"));
        try (TrainingRun run = run(straight)) {
            run.run();
        }
        MegalithConfig resumed = config(tmp.resolve("resumed"));
        try (TrainingRun run = run(resumed)) {
            run.run(3);
        }
        try (TrainingRun run = run(resumed)) {
            assertThat(run.startStep()).isEqualTo(3);
            run.run();
        }
        List<Double> a = TinyRuns.series(TinyRuns.metrics(straight).stream().filter(r -> r.containsKey("loss"))
                .toList(), "loss");
        List<Double> b = TinyRuns.series(TinyRuns.metrics(resumed).stream().filter(r -> r.containsKey("loss"))
                .toList(), "loss");
        assertThat(a).hasSize(6).isEqualTo(b);
        Map<String, HostTensor> wa = weights(straight, 6);
        Map<String, HostTensor> wb = weights(resumed, 6);
        assertThat(wa.keySet()).contains("visual.patch_embed.weight", "text.token_embed.weight", "visual_proj.weight",
                "text_proj.weight", "logit_scale", "exp_avg.logit_scale").isEqualTo(wb.keySet());
        wa.forEach((name, t) -> assertThat(wb.get(name).toFloats()).as(name).isEqualTo(t.toFloats()));
        Map<String, Object> end = TinyRuns.metrics(straight).stream().filter(r -> r.containsKey("val_loss"))
                .reduce((x, y) -> y).orElseThrow();
        assertThat(end).containsKeys("val_loss", "zero_shot_accuracy", "eval_canvases", "eval_items");
    }

    @Test
    void learnsZeroShotAndLoadsForInference() throws Exception {
        MegalithConfig cfg = config(tmp.resolve("run"), "train.max_steps=60", "train.eval_every=30",
                "checkpoint.every=30", "train.batch_size=32", "model.dropout=0.0");
        TrainingRun.Summary s;
        try (TrainingRun run = run(cfg)) {
            s = run.run();
        }
        List<Map<String, Object>> metrics = TinyRuns.metrics(cfg);
        Map<String, Object> end = metrics.stream().filter(r -> r.containsKey("zero_shot_accuracy"))
                .reduce((x, y) -> y).orElseThrow();
        assertThat(((Number) end.get("zero_shot_accuracy")).doubleValue()).as("zero-shot accuracy (chance: 25%%)")
                .isGreaterThan(0.6);
        assertThat(s.samples()).singleElement().asString().startsWith("zero-shot accuracy");
        try (TrainedModel loaded = ModelFamilies.of(cfg).loadTrained(RunCheckpoint.latest(cfg.run().dir()),
                TinyRuns.CONF, 1)) {
            TrainedClip clip = (TrainedClip) loaded;
            assertThat(clip.step()).isEqualTo(60);
            ImageBatch items = data().heldOutItems(0, 32);
            int[] predicted = clip.classify(items.pixels(), items.rows(), ClipEvaluation.PROMPT);
            int hits = 0;
            for (int i = 0; i < predicted.length; i++) {
                hits += predicted[i] == items.labels()[i] ? 1 : 0;
            }
            assertThat(hits).as("the loaded model classifies as the run evaluated it").isGreaterThan(16);
            assertThatThrownBy(() -> clip.generate(null, System.out)).hasMessageContaining("megalith clip");
            ClipRetrieval q = ClipRetrieval.measure(clip, data(), 64, 64);
            assertThat(q.zeroShot()).isGreaterThan(0.6);
            assertThat(q.zeroShotEnsemble()).isGreaterThan(0.6);
            assertThat(q.canvases()).isEqualTo(64);
            assertThat(q.swapPairs()).as("every held-out canvas is a pair of two classes").isEqualTo(64);
            for (double v : new double[] {q.captionToImageR1(), q.captionToImageR5(), q.imageToCaptionR1(),
                    q.imageToCaptionR5(), q.swapAccuracy()}) {
                assertThat(v).isBetween(0.0, 1.0);
            }
            assertThat(q.captionToImageR5()).isGreaterThanOrEqualTo(q.captionToImageR1());
            assertThat(q.record()).containsKeys("swap_accuracy", "caption_to_image_recall_at_5");
        }
    }

    @Test
    void swapExchangesWholeNames() {
        assertThat(ClipRetrieval.swap("a bag to the left of a sneaker", "bag", "sneaker"))
                .isEqualTo("a sneaker to the left of a bag");
        assertThat(ClipRetrieval.swap("a t-shirt above a shirt", "shirt", "t-shirt")).isEqualTo("a shirt above a t-shirt");
        assertThat(ClipRetrieval.swap("an ankle boot to the right of a bag", "ankle boot", "bag"))
                .isEqualTo("a bag to the right of an ankle boot");
        assertThat(ClipRetrieval.swap("a photo of a bag", "bag", "coat")).isNull();
    }

    @Test
    void familyChecksNameTheKey() {
        assertThatThrownBy(() -> config(tmp, "data.task=addition")).hasMessageContaining(
                "data.task: model.family clip trains on captioned images");
        assertThatThrownBy(() -> config(tmp, "model.family=vit")).hasMessageContaining("data.task: captions");
        assertThatThrownBy(() -> config(tmp, "parallel.dp=3")).hasMessageContaining(
                "train.batch_size: model.family clip gathers equal shares");
        assertThatThrownBy(() -> config(tmp, "model.text_mask=left")).hasMessageContaining(
                "model.text_mask: must be one of causal, bidirectional");
        assertThat(ModelFamilies.of(config(tmp)).parameterCount(config(tmp).model(), 0)).isPositive();
    }
}
