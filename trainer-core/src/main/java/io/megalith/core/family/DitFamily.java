package io.megalith.core.family;

import io.megalith.core.config.Checks;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.dit.CaptionDitRun;
import io.megalith.core.family.dit.DitEvaluation;
import io.megalith.core.family.dit.DitRun;
import io.megalith.core.inference.TrainedDit;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.TextToImage;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/**
 * The diffusion transformer ({@code model/dit}): learns to denoise data.task images (DDPM, the diffusion section),
 * trained by {@link DitRun} with data and tensor parallelism and ZeRO; {@code megalith generate} samples a grid of
 * images per class from its EMA weights ({@link TrainedDit}). On data.task captions, a text-to-image DiT: its
 * cross-attentions read the token states of a text encoder trained with it ({@link CaptionDitRun}), and generate
 * samples a row per prompt.
 */
final class DitFamily implements ModelFamily {
    /** Without the data (model.image_size, channels or classes 0), the dry run counts Fashion-MNIST's shape. */
    private static final int DEFAULT_SIZE = 28;
    private static final int DEFAULT_CLASSES = 10;
    /** Without the data, the dry run counts a caption alphabet of this many characters. */
    private static final int CHARS = 40;

    @Override
    public String name() {
        return "dit";
    }

    @Override
    public String modelName() {
        return "DiT";
    }

    @Override
    public Objective objective() {
        return Objective.IMAGE_NOISE;
    }

    /** data.task captions: a text-to-image DiT. */
    @Override
    public boolean textToImage() {
        return true;
    }

    @Override
    public boolean captionedImages() {
        return true;
    }

    @Override
    public void checkConfig(MegalithConfig cfg, Checks c) {
        MegalithConfig.Model m = cfg.model();
        c.require(cfg.images() || cfg.captions(), "data.task: model.family dit generates images: set data.task "
                + "images (class-conditioned) or captions (text-to-image) (got " + cfg.data().task() + ")");
        c.require(!cfg.captions() || m.classes() == 0, "model.classes: a text-to-image dit (data.task captions) is "
                + "conditioned on captions, not classes (got " + m.classes() + "); set model.classes=0");
        c.require(m.imageSize() <= 0 || m.patchSize() < 1 || m.imageSize() % m.patchSize() == 0, "model.patch_size: "
                + m.patchSize() + " does not divide model.image_size " + m.imageSize() + "; choose a divisor");
        c.require(m.nEmbd() % 4 == 0, "model.n_embd: model.family dit's 2-D sin-cos positions need "
                + "model.n_embd divisible by 4 (got " + m.nEmbd() + ")");
        c.require(m.dropout() == 0, "model.dropout: model.family dit trains without dropout (got " + m.dropout()
                + "); set model.dropout=0");
        c.require(cfg.finetune().loraConfig().rank() == 0, "finetune.lora: model.family dit trains no LoRA adapters "
                + "yet; set finetune.lora.rank=0");
        // under ZeRO-2/3 the EMA is kept per dp shard of the trained parameters, which frozen ones are not part of
        c.require(cfg.zero().stage() < 2 || cfg.finetune().freeze().isEmpty(), "finetune.freeze: model.family dit's "
                + "EMA under zero.stage " + cfg.zero().stage() + " needs every parameter trained; set finetune.freeze=[] "
                + "or zero.stage <= 1");
    }

    /** Counted on the model itself: patch embedding, timestep MLP, class table, adaLN-Zero blocks, final layer. */
    @Override
    public long parameterCount(MegalithConfig.Model m, long vocab) {
        int size = m.imageSize() > 0 ? m.imageSize() : DEFAULT_SIZE;
        int channels = m.channels() > 0 ? m.channels() : 1;
        int classes = m.classes() > 0 ? m.classes() : DEFAULT_CLASSES;
        if (size % m.patchSize() != 0 || m.nEmbd() % m.nHead() != 0 || m.nEmbd() % 4 != 0) {
            return 0; // config validation says why
        }
        return DitEvaluation.parameterCount(new DitConfig(channels, size, size, m.patchSize(), m.nLayer(), m.nHead(),
                m.nEmbd(), classes));
    }

    /**
     * On data.task captions: the text-conditioned DiT on the canvas (two items of the data's size, or
     * Fashion-MNIST's) and its text encoder over {@code vocab} ids (0: a {@value #CHARS}-character alphabet) and the
     * pad.
     */
    @Override
    public long parameterCount(MegalithConfig cfg, long vocab) {
        MegalithConfig.Model m = cfg.model();
        if (!cfg.captions()) {
            return parameterCount(m, vocab);
        }
        int size = m.imageSize() > 0 ? m.imageSize() : DEFAULT_SIZE;
        boolean wide = "wide".equals(cfg.data().captions().canvas());
        int h = wide ? size : 2 * size;
        int w = wide ? 2 * size : size;
        if (h % m.patchSize() != 0 || w % m.patchSize() != 0 || m.nEmbd() % m.nHead() != 0 || m.nEmbd() % 4 != 0) {
            return 0; // config validation says why
        }
        int ids = (int) (vocab > 0 ? vocab : CHARS);
        TextEncoderConfig text = new TextEncoderConfig(ids + 1, ids, m.textLen(), m.textEncoderLayers(), m.nHead(),
                m.nEmbd(), 0, true, TextEncoderConfig.Mask.CAUSAL);
        return new TextToImage(TextToImage.ditConfig(m, m.channels() > 0 ? m.channels() : 1, h, w), text)
                .parameters().stream().mapToLong(p -> p.numel()).sum();
    }

    @Override
    public RankModel rankModel(RankModel.Context context) throws IOException {
        return context.cfg().captions() ? new CaptionDitRun(context) : new DitRun(context);
    }

    /** The run's EMA weights, sampling a grid of images per class (or single images). */
    @Override
    public TrainedModel loadTrained(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        return TrainedDit.load(which, hadoop, threads);
    }
}
