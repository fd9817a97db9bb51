package io.megalith.core.family.clip;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.CaptionDatasets;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.family.segment.SegmentRun;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.model.clip.ClipConfig;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.parallelize.ClipPlan;
import io.megalith.core.parallelize.ParallelClip;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.Part;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * CLIP's part of a training run on one rank ({@link SegmentRun}): captioned canvases from {@link CaptionDatasets#open},
 * captions tokenised by a char or BPE tokenizer fitted to the training captions (data.tokenizer), a {@link Clip} split
 * by {@link ClipPlan} whose loss reads every data-parallel rank's embeddings (global negatives: the step trains the
 * one-rank loss of each whole micro-batch); evaluation: held-out contrastive loss and zero-shot accuracy
 * ({@link ClipEvaluation}) into metrics.jsonl and a console line.
 */
public final class ClipRun extends SegmentRun {
    private final CaptionData data;
    private final CaptionTokens tokens;
    private final ClipConfig clipConfig;
    private final ParallelClip parallel;

    public ClipRun(Context c) throws IOException {
        this(c, CaptionDatasets.open(c.cfg(), c.hadoop(), c.preparedData()));
    }

    /** A run on {@code data} (closed with the run). */
    public ClipRun(Context c, CaptionData data) throws IOException {
        super(c);
        this.data = data;
        this.tokens = new CaptionTokens(tokenizer(cfg, data), cfg.model().textLen());
        this.clipConfig = config(cfg.model(), data, tokens);
        this.parallel = ClipPlan.apply(new Clip(clipConfig), Placement.tensorParallel(c.groups().tensorParallel()),
                c.groups().dataParallel());
        Clip model = parallel.model();
        Freezing.apply(model.parameters(), cfg.finetune());
        train(model, parallel.segments(null, null, 0, null, 1f).all(), this::part, shape(clipConfig, data), c);
    }

    /** The tokenizer data.tokenizer names, fitted to the first training captions and the zero-shot prompts. */
    public static Tokenizer tokenizer(MegalithConfig cfg, CaptionData data) {
        return CaptionTokens.fit(cfg.data(), data, ClipEvaluation.prompts(ClipEvaluation.PROMPT, data.classNames()));
    }

    /** The model's shape from model.*, the canvases and the tokenizer. */
    public static ClipConfig config(MegalithConfig.Model m, CaptionData data, CaptionTokens tokens) {
        if (m.imageSize() > 0 && (m.imageSize() != data.height() || m.imageSize() != data.width())) {
            throw new IllegalArgumentException("model.image_size: " + m.imageSize() + ", but the canvases are "
                    + data.height() + "x" + data.width() + " (" + data.describe() + "); set it to 0 (from the data)");
        }
        VitConfig image = new VitConfig(data.height(), data.width(), data.channels(), m.patchSize(), 0, m.nLayer(),
                m.nHead(), m.nEmbd(), m.dropout(), m.bias(), VitConfig.Pool.valueOf(m.pool().toUpperCase(Locale.ROOT)),
                VitConfig.Positions.valueOf(m.posEmb().toUpperCase(Locale.ROOT)));
        TextEncoderConfig text = new TextEncoderConfig(tokens.vocabSize(), tokens.padId(), m.textLen(), m.nLayer(),
                m.nHead(), m.nEmbd(), m.dropout(), m.bias(),
                TextEncoderConfig.Mask.valueOf(m.textMask().toUpperCase(Locale.ROOT)));
        return new ClipConfig(image, text, m.embedDim());
    }

    /** What a resume must find again: the model's shape (no dropout) and the class names. */
    public static String shape(ClipConfig c, CaptionData data) {
        return c.withDropout(0) + " classes " + data.classNames();
    }

    /** Global rows [first, first + count) of a step as a trainer {@link Part}. */
    private Part part(long step, int first, int count) {
        return ClipPart.of(parallel, data.train(step, first, count), tokens);
    }

    public ClipConfig clipConfig() {
        return clipConfig;
    }

    @Override
    public void describe(PrintStream console) {
        if (leader) {
            long params = new Clip(clipConfig).parameters().stream().mapToLong(p -> p.numel()).sum();
            console.printf("megalith: clip 2 towers of %d layers x %d heads x %d wide, %dx%d patches, %d caption "
                    + "tokens (%s, %d ids, %s mask), joint space %d, %s, %,d parameters%n",
                    clipConfig.image().nLayer(), clipConfig.image().nHead(), clipConfig.image().nEmbd(),
                    clipConfig.image().patch(), clipConfig.image().patch(), clipConfig.text().textLen(),
                    tokens.tokenizer().kind(), tokens.vocabSize(), clipConfig.text().mask().name().toLowerCase(
                            Locale.ROOT), clipConfig.embedDim(), data.describe(), params);
        }
    }

    /** run.dir/clip.json: the canvas shape, class names and normalisation a trained run is used with. */
    @Override
    public Map<String, byte[]> runFiles() throws IOException {
        return Map.of(ClipCanvas.FILE, ClipCanvas.of(data).toJson());
    }

    /** The tokenizer fitted to the captions (tokenizer.json in checkpoints): a resume must fit the same one. */
    @Override
    public byte[] tokenizer() throws IOException {
        return Tokenizers.toBytes(tokens.tokenizer());
    }

    @Override
    protected String tokenizerKind() {
        return tokens.tokenizer().kind();
    }

    /**
     * {val_loss, zero_shot_accuracy, ...} and its console line: on the first train.eval_batches x batch_size held-out
     * canvases and items; at the end on every held-out canvas and up to 2,000 items (bench/ClipQuality: all).
     */
    @Override
    protected Evaluation evaluate(long step, Map<String, HostTensor> full, List<String> samples) {
        int batch = cfg.train().batchSize();
        long slice = (long) cfg.train().evalBatches() * batch;
        long canvases = samples != null ? data.heldOutSize() : Math.min(data.heldOutSize(), slice);
        long items = Math.min(data.heldOutItemsSize(), samples != null ? Math.max(2000, slice) : slice);
        ClipEvaluation ev = ClipEvaluation.of(clipConfig.withDropout(0), tokens, data, canvases, items, batch, full,
                manager);
        String accuracy = String.format(Locale.ROOT, "zero-shot accuracy %.2f%% on %d items", 100 * ev.zeroShot(),
                ev.items());
        if (samples != null) {
            samples.add(accuracy);
        }
        return new Evaluation(ev.record(), String.format(Locale.ROOT, "step %d: val loss %.4f, %s", step, ev.loss(),
                accuracy), samples);
    }

    @Override
    protected void closeData() {
        data.close();
    }
}
