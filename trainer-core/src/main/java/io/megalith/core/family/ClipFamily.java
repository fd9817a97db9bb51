package io.megalith.core.family;

import io.megalith.core.config.Checks;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.clip.ClipRun;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedClip;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/**
 * CLIP ({@code model/clip}): an image tower and a text tower trained contrastively on data.task captions by
 * {@link ClipRun}, with data parallelism over global negatives and tensor parallelism.
 */
final class ClipFamily implements ModelFamily {
    /** Without the data, the dry run counts Fashion-MNIST's wide canvas (28 x 56) and a char vocabulary. */
    private static final int HEIGHT = 28;
    private static final int WIDTH = 56;
    private static final int CHARS = 40;

    @Override
    public String name() {
        return "clip";
    }

    @Override
    public String modelName() {
        return "CLIP";
    }

    @Override
    public Objective objective() {
        return Objective.IMAGE_TEXT;
    }

    @Override
    public boolean captionedImages() {
        return true;
    }

    @Override
    public void checkConfig(MegalithConfig cfg, Checks c) {
        MegalithConfig.Model m = cfg.model();
        c.require(cfg.captions(), "data.task: model.family clip trains on captioned images: set data.task captions "
                + "(got " + cfg.data().task() + ")");
        c.require(!"sincos".equals(m.posEmb()) || m.nEmbd() % 4 == 0, "model.pos_emb: sincos needs model.n_embd "
                + "divisible by 4 (got " + m.nEmbd() + ")");
        int dp = cfg.parallel().dp();
        c.require(dp < 1 || cfg.train().batchSize() % dp == 0, "train.batch_size: model.family clip gathers equal "
                + "shares of each micro-batch over parallel.dp: batch_size " + cfg.train().batchSize()
                + " must be divisible by dp " + dp);
        c.require(cfg.finetune().loraConfig().rank() == 0, "finetune.lora: model.family clip trains no LoRA adapters "
                + "yet; set finetune.lora.rank=0");
    }

    /** Both towers (patch embedding, [CLS], positions, layers, ln_f; token and position tables), projections, scale. */
    @Override
    public long parameterCount(MegalithConfig.Model m, long vocab) {
        LayerSizes s = LayerSizes.of(m);
        long c = s.width();
        long channels = m.channels() > 0 ? m.channels() : 1;
        long patches = (HEIGHT / m.patchSize()) * (WIDTH / m.patchSize());
        boolean cls = "cls".equals(m.pool());
        long tokens = patches + (cls ? 1 : 0);
        long layers = m.nLayer() * (s.attention() + s.mlp() + 2 * s.norm()) + s.norm();
        long image = channels * m.patchSize() * m.patchSize() * c + c + (cls ? c : 0)
                + ("learned".equals(m.posEmb()) ? tokens * c : 0) + layers;
        long text = ((vocab > 0 ? vocab : CHARS) + 1 + m.textLen()) * c + layers;
        return image + text + 2 * c * m.embedDim() + 1;
    }

    /** Both towers' layers. */
    @Override
    public int layers(MegalithConfig.Model m) {
        return 2 * m.nLayer();
    }

    @Override
    public RankModel rankModel(RankModel.Context context) throws IOException {
        return new ClipRun(context);
    }

    /** Zero-shot classification and retrieval ({@code megalith clip}; generate prints what the run can do). */
    @Override
    public TrainedModel loadTrained(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        return TrainedClip.load(which, hadoop, threads);
    }
}
