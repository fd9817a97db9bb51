package io.megalith.core.family.vit;

import io.megalith.core.inference.RunCheckpoint;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.config.Checks;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vit family trained in process through {@link TrainingRun} on synthetic images (the image reader is not needed):
 * the loss falls, the held-out accuracy reaches far above chance into metrics.jsonl and the summary, and a stopped run
 * resumes from its checkpoint; the model's shape is resolved from model.* and the data, with errors naming the key.
 */
class VitRunTest {
    @TempDir
    Path tmp;

    /**
     * A vit config. Until data.task images is a task config validation knows (it comes with the image reader), the
     * config is validated as a GPT one and then made a vit on images; the family's own checks are asserted here.
     */
    static MegalithConfig vitConfig(Path runDir, String... overrides) {
        String yaml = """
                seed: 5
                run: {dir: "%s", name: tiny-vit}
                model: {n_layer: 2, n_head: 4, n_embd: 32, dropout: 0.0, bias: true, patch_size: 2, pool: cls,
                        pos_emb: learned}
                train: {max_steps: 40, batch_size: 16, grad_accum: 1, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 4,
                        eval_every: 20, eval_batches: 2, weight_decay: 0.05}
                checkpoint: {every: 20, keep_last: 0}
                runtime: {threads: 1}
                """.formatted(runDir);
        MegalithConfig base = ConfigLoader.fromYaml(yaml, List.of(overrides), "tiny vit");
        MegalithConfig.Model m = base.model();
        MegalithConfig.Data d = base.data();
        MegalithConfig cfg = new MegalithConfig(base.seed(), base.run(),
                new MegalithConfig.Model(m.nLayer(), m.nHead(), m.nEmbd(), m.blockSize(), m.vocabSize(), m.dropout(),
                        m.bias(), m.moe(), "vit", m.nEncoderLayer(), m.nDecoderLayer(), m.preLn(), m.typeVocabSize(),
                        m.nsp(), m.imageSize(), m.channels(), m.patchSize(), m.classes(), m.pool(), m.posEmb()),
                new MegalithConfig.Data("images", d.path(), d.tokenizer(), d.bpeVocabSize(), d.valFraction(),
                        d.digits(), d.heldOutFraction(), d.evalPairs(), d.format(), d.textField(), d.cacheDir(),
                        d.minLen(), d.maxLen(), d.speakers(), d.builtin(), d.streaming(), d.streamCacheBlocks(),
                        d.streamBlockKib()),
                base.train(), base.checkpoint(), base.runtime(), base.generate(), base.parallel(), base.zero(),
                base.comm(), base.launch(), base.finetune(), base.report());
        Checks c = new Checks();
        ModelFamilies.VIT.checkConfig(cfg, c);
        assertThat(c.problems()).isEmpty();
        return cfg;
    }

    static SyntheticImages images() {
        return new SyntheticImages(1, 8, 4, 96, 3);
    }

    static TrainingRun run(MegalithConfig cfg) throws IOException {
        return new TrainingRun(ctx -> new VitRun(ctx, images()), cfg, TinyRuns.CONF, TinyRuns.QUIET,
                RankGroups.single(), true, null);
    }

    @Test
    void learnsSyntheticImagesAndResumes() throws Exception {
        MegalithConfig cfg = vitConfig(tmp.resolve("run"));
        try (TrainingRun run = run(cfg)) {
            run.run(20); // stops at the step-20 checkpoint
        }
        TrainingRun.Summary s;
        try (TrainingRun run = run(cfg)) {
            assertThat(run.startStep()).isEqualTo(20);
            s = run.run();
        }
        assertThat(s.endStep()).isEqualTo(40);
        List<Map<String, Object>> metrics = TinyRuns.metrics(cfg);
        List<Double> losses = TinyRuns.series(metrics.stream().filter(r -> r.containsKey("loss")).toList(), "loss");
        assertThat(losses).hasSize(40);
        double first = (losses.get(0) + losses.get(1) + losses.get(2)) / 3;
        double last = (losses.get(37) + losses.get(38) + losses.get(39)) / 3;
        assertThat(last).as("the loss falls").isLessThan(first * 0.5);
        Map<String, Object> end = metrics.get(metrics.size() - 1);
        assertThat(end).containsKeys("val_loss", "accuracy", "eval_images");
        assertThat(((Number) end.get("eval_images")).longValue()).as("the last evaluation reads every held-out image")
                .isEqualTo(96);
        assertThat(s.exactMatch()).as("held-out accuracy (chance: 25%%)").isGreaterThan(0.8);
        assertThat(s.samples()).singleElement().asString().startsWith("held-out accuracy");
        assertThat(metrics.stream().filter(r -> r.containsKey("accuracy")).map(r -> r.get("eval_images")))
                .as("earlier evaluations read eval_batches x batch_size images").contains(32L);
        // what megalith ckpt export writes: the model's tensors under their names (timm's, layers as the text models')
        CheckpointStore store = new CheckpointStore(cfg.run().dir(), TinyRuns.CONF, 0);
        Map<String, HostTensor> weights = store.assemble(40, store.manifest(40), n -> !n.startsWith("exp_avg"));
        assertThat(weights).containsKeys("patch_embed.weight", "patch_embed.bias", "cls_token", "pos_embed",
                "layers.0.attn.qkv.weight", "layers.1.mlp.proj.weight", "ln_f.weight", "head.weight", "head.bias");
        assertThat(weights.get("pos_embed").shape()).containsExactly(17, 32); // [CLS] + 4 x 4 patches
        assertThat(new String(store.readBlob(40, store.manifest(40), TrainingRun.TOKENIZER_FILE),
                StandardCharsets.UTF_8)).as("the class names, in label order")
                .isEqualTo("horizontal\nvertical\ncheckerboard\nflat");
    }

    @Test
    void refusesAResumeWithAnotherShape() throws Exception {
        MegalithConfig cfg = vitConfig(tmp.resolve("run"), "train.max_steps=2", "checkpoint.every=2");
        try (TrainingRun run = run(cfg)) {
            run.run();
        }
        MegalithConfig mean = vitConfig(tmp.resolve("run"), "train.max_steps=4", "checkpoint.every=2",
                "model.pool=mean");
        assertThatThrownBy(() -> run(mean)).hasMessageContaining("holds checkpoints of a different model");
    }

    @Test
    void shapeFromTheDataAndTheConfig() {
        MegalithConfig cfg = vitConfig(tmp, "model.pos_emb=sincos", "model.pool=mean");
        VitConfig v = VitRun.config(cfg.model(), images());
        assertThat(v).isEqualTo(new VitConfig(8, 8, 1, 2, 4, 2, 4, 32, 0.0, true, VitConfig.Pool.MEAN,
                VitConfig.Positions.SINCOS));
        assertThat(VitRun.config(vitConfig(tmp, "model.classes=6").model(), images()).classes()).isEqualTo(6);
        assertThatThrownBy(() -> VitRun.config(vitConfig(tmp, "model.image_size=28").model(), images()))
                .hasMessageStartingWith("model.image_size: 28, but the images are 8x8");
        assertThatThrownBy(() -> VitRun.config(vitConfig(tmp, "model.channels=3").model(), images()))
                .hasMessageStartingWith("model.channels: 3, but the images have 1");
        assertThatThrownBy(() -> VitRun.config(vitConfig(tmp, "model.classes=2").model(), images()))
                .hasMessageStartingWith("model.classes: 2, but the data has 4 classes");
        assertThatThrownBy(() -> VitRun.config(vitConfig(tmp, "model.patch_size=3").model(), images()))
                .hasMessageContaining("model.patch_size: 3 does not divide the 8x8 images");
    }

    @Test
    void familyChecksNameTheKey() {
        MegalithConfig cfg = vitConfig(tmp);
        Checks c = new Checks();
        ModelFamilies.VIT.checkConfig(TinyRuns.addition(tmp), c);
        assertThat(c.problems()).anyMatch(p -> p.startsWith("data.task: model.family vit classifies images"));
        assertThat(ModelFamilies.VIT.parameterCount(cfg.model(), 0)).as("the dry run's count, 28x28x1 and 10 classes")
                .isEqualTo(VitEvaluation.parameterCount(new VitConfig(28, 28, 1, 2, 10, 2, 4, 32, 0, true,
                        VitConfig.Pool.CLS, VitConfig.Positions.LEARNED)));
        MegalithConfig sized = vitConfig(tmp, "model.image_size=8", "model.channels=3", "model.classes=4",
                "model.pool=mean", "model.pos_emb=sincos", "model.bias=false");
        assertThat(ModelFamilies.VIT.parameterCount(sized.model(), 0)).isEqualTo(VitEvaluation.parameterCount(
                new VitConfig(8, 8, 3, 2, 4, 2, 4, 32, 0, false, VitConfig.Pool.MEAN, VitConfig.Positions.SINCOS)));
        assertThatThrownBy(() -> ModelFamilies.VIT.loadTrained(RunCheckpoint.latest(tmp.toString()), TinyRuns.CONF, 1))
                .hasMessageContaining("an image classifier does not generate");
        assertThatThrownBy(() -> ConfigLoader.fromYaml("run: {dir: x}", List.of("model.pool=max"), "t"))
                .hasMessageContaining("model.pool: must be one of cls, mean (got 'max')");
    }
}
