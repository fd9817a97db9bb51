package io.megalith.core.family;

import io.megalith.core.config.Checks;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.vit.VitRun;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/**
 * The vision transformer ({@code model/vit}): an image classifier on data.task images, trained by {@link VitRun}
 * with data and tensor parallelism.
 */
final class VitFamily implements ModelFamily {
    /** Without the data (model.image_size, channels or classes 0), the dry run counts Fashion-MNIST's shape. */
    private static final int DEFAULT_SIZE = 28;
    private static final int DEFAULT_CLASSES = 10;

    @Override
    public String name() {
        return "vit";
    }

    @Override
    public String modelName() {
        return "ViT";
    }

    @Override
    public Objective objective() {
        return Objective.IMAGE_CLASSES;
    }

    @Override
    public void checkConfig(MegalithConfig cfg, Checks c) {
        MegalithConfig.Model m = cfg.model();
        c.require(cfg.images(), "data.task: model.family vit classifies images: set data.task "
                + "images (got " + cfg.data().task() + ")");
        c.require(m.imageSize() <= 0 || m.patchSize() < 1 || m.imageSize() % m.patchSize() == 0, "model.patch_size: "
                + m.patchSize() + " does not divide model.image_size " + m.imageSize() + "; choose a divisor");
        c.require(!"sincos".equals(m.posEmb()) || m.nEmbd() % 4 == 0, "model.pos_emb: sincos needs model.n_embd "
                + "divisible by 4 (got " + m.nEmbd() + ")");
        c.require(cfg.finetune().loraConfig().rank() == 0, "finetune.lora: model.family vit trains no LoRA adapters "
                + "yet; set finetune.lora.rank=0");
    }

    /** Patch embedding, [CLS], positions, pre-LN layers, ln_f, head. */
    @Override
    public long parameterCount(MegalithConfig.Model m, long vocab) {
        LayerSizes s = LayerSizes.of(m);
        long c = s.width();
        long size = m.imageSize() > 0 ? m.imageSize() : DEFAULT_SIZE;
        long channels = m.channels() > 0 ? m.channels() : 1;
        long classes = m.classes() > 0 ? m.classes() : DEFAULT_CLASSES;
        long patches = (size / m.patchSize()) * (size / m.patchSize());
        boolean cls = "cls".equals(m.pool());
        long tokens = patches + (cls ? 1 : 0);
        return channels * m.patchSize() * m.patchSize() * c + c + (cls ? c : 0)
                + ("learned".equals(m.posEmb()) ? tokens * c : 0)
                + m.nLayer() * (s.attention() + s.mlp() + 2 * s.norm()) + s.norm() + c * classes + classes;
    }

    @Override
    public RankModel rankModel(RankModel.Context context) throws IOException {
        return new VitRun(context);
    }

    /** A classifier does not generate: its runs are read through their metrics (held-out accuracy). */
    @Override
    public TrainedModel loadTrained(RunCheckpoint which, Configuration hadoop, int threads) {
        throw new IllegalArgumentException(which.runDir() + " holds a model.family " + name() + " run: an image "
                + "classifier does not generate; its held-out accuracy is in " + which.runDir() + "/metrics.jsonl");
    }

    /** A smaller ViT learns a trained ViT's class distributions on the same images (distill section). */
    @Override
    public boolean distillable() {
        return true;
    }
}
