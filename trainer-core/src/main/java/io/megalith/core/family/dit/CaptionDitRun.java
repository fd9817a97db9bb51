package io.megalith.core.family.dit;

import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.CaptionDatasets;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.diffusion.DiffusionPart;
import io.megalith.core.diffusion.Noising;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.inference.ClipTextTower;
import io.megalith.core.inference.DitImages;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.model.dit.TextToImage;
import io.megalith.core.model.transformer.TextEncoder;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.parallelize.DitPlan;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.parallelize.TextEncoderPlan;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.train.Part;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The text-to-image DiT's part of a training run on one rank ({@link DiffusionRun}; model.family dit, data.task
 * captions): captioned canvases from {@link CaptionDatasets#open}, captions tokenised by the tokenizer fitted to the
 * training captions as CLIP's run fits it ({@link CaptionTokens#fit}), a {@link TextToImage} (a text-conditioned DiT
 * and a text encoder trained with it from scratch) split by {@link DitPlan} and {@link TextEncoderPlan}; each step's
 * rows noised by {@link Noising}, their captions dropped for the null text at diffusion.class_dropout (classifier-free
 * guidance), the encoder's chain and the DiT's run in one pass ({@link DiffusionPart.TextEncoder}); the EMA covers
 * every trained weight, the encoder's too. Checkpoints record the canvases and the tokenizer ({@link DitImages}: a
 * resume on other captions is refused; generation reads them); evaluation: the held-out diffusion loss on held-out
 * compositions with their captions ({@link DitEvaluation#ofCaptions}).
 */
public final class CaptionDitRun extends DiffusionRun {
    /** Held-out pairs whose two orders are {@code megalith generate}'s default prompts. */
    static final int PROMPT_PAIRS = 4;

    private final CaptionData data;
    private final CaptionTokens tokens;
    private final DitConfig ditConfig;
    private final TextEncoderConfig textConfig;
    private final ParallelDit parallel;
    private static final Logger LOG = LoggerFactory.getLogger(CaptionDitRun.class);

    private final TextEncoder encoder; // this rank's part
    private final TpLayout tp;
    private final Configuration hadoop;

    public CaptionDitRun(Context c) throws IOException {
        this(c, CaptionDatasets.open(c.cfg(), c.hadoop(), c.preparedData()));
    }

    /** A run on {@code data} (closed with the run). */
    public CaptionDitRun(Context c, CaptionData data) throws IOException {
        super(c);
        this.hadoop = c.hadoop();
        this.data = data;
        this.tokens = new CaptionTokens(CaptionTokens.fit(cfg.data(), data, List.of()), cfg.model().textLen());
        this.textConfig = TextToImage.encoderConfig(cfg.model(), tokens);
        this.ditConfig = config(cfg.model(), data);
        TextToImage model = new TextToImage(ditConfig, textConfig);
        Placement placement = Placement.tensorParallel(c.groups().tensorParallel());
        this.parallel = DitPlan.apply(model.dit(), placement);
        TextEncoderPlan.apply(model.encoder(), placement.tp());
        this.encoder = model.encoder();
        this.tp = placement.tp();
        // finetune.freeze: e.g. [text_encoder], a pretrained encoder kept as it is (Imagen's frozen T5, SD's CLIP)
        Freezing.apply(model.parameters(), cfg.finetune());
        List<Segment> plan = new ArrayList<>(TextEncoderPlan.segments(encoder, tp, null, 0));
        plan.addAll(parallel.textSegments(null, null, null).all());
        trainAveraged(model, ditConfig.nullClass(), plan, this::part, ditConfig + " text " + textConfig.withDropout(0),
                c);
    }

    /** The DiT's shape: the canvases' (model.image_size 0 or theirs), no classes, reading text states of n_embd. */
    public static DitConfig config(MegalithConfig.Model m, CaptionData data) {
        if (m.imageSize() > 0 && (m.imageSize() != data.height() || m.imageSize() != data.width())) {
            throw new IllegalArgumentException("model.image_size: " + m.imageSize() + ", but the canvases are "
                    + data.height() + "x" + data.width() + " (" + data.describe() + "); set it to 0 (from the data)");
        }
        if (m.channels() > 0 && m.channels() != data.channels()) {
            throw new IllegalArgumentException("model.channels: " + m.channels() + ", but the canvases have "
                    + data.channels() + "; set it to 0 (from the data)");
        }
        return TextToImage.ditConfig(m, data.channels(), data.height(), data.width());
    }

    /**
     * checkpoint.init_text_from: the text encoder starts from a clip run's text tower (same tokenizer and text
     * shape); everything else keeps its fresh init, and the EMA starts at these weights. Every rank calls it (a
     * collective under TP and ZeRO-3).
     */
    @Override
    public void startFresh() throws IOException {
        String clipRun = cfg.checkpoint().initTextFrom();
        if (clipRun.isEmpty()) {
            return;
        }
        ClipTextTower tower = ClipTextTower.load(clipRun, hadoop);
        if (!Arrays.equals(tower.tokenizer(), Tokenizers.toBytes(tokens.tokenizer()))) {
            throw new InvalidInputException("checkpoint.init_text_from: " + clipRun + " tokenizes captions with "
                    + "another vocabulary than this run's (fitted to its training captions); train the clip run on "
                    + "the same data.captions settings, with data.tokenizer " + tokens.tokenizer().kind());
        }
        if (!tower.shape().equals(textConfig.withDropout(0))) {
            throw new InvalidInputException("checkpoint.init_text_from: " + clipRun + "'s text tower is "
                    + tower.shape() + ", this run's text encoder " + textConfig.withDropout(0) + "; set model.text_len, "
                    + "model.text_layers, model.text_mask, model.n_head and model.n_embd to the clip run's (its "
                    + "n_layer is the tower's layers)");
        }
        Map<String, HostTensor> all = new LinkedHashMap<>(trainer().fullParameters());
        tower.weights().forEach((name, t) -> {
            String own = TextToImage.ENCODER + "." + name;
            if (!all.containsKey(own)) {
                throw new IllegalStateException("the text encoder has no " + own + " for the clip tower's " + name);
            }
            all.put(own, t);
        });
        trainer().loadFullParameters(all);
        restartAverage();
        LOG.info("Text encoder initialised from the clip run {} ({} tensors)", clipRun, tower.weights().size());
    }

    /** Global rows [first, first + count) of a step: noised, captions encoded and drawn for dropping. */
    private Part part(long step, int first, int count) {
        CaptionBatch batch = data.train(step, first, count);
        long[] ids = tokens.encode(batch.captions());
        DitText captions = TextToImage.captions(ids, count, tokens.padId(), noising.captionDrops(step, first, count));
        int len = tokens.textLen();
        return DiffusionPart.of(parallel, noising.rows(batch.images(), step, first), captions,
                new DiffusionPart.TextEncoder(TextEncoderPlan.segments(encoder, tp, ids, count),
                        m -> Ops.longs(m, ids, count, len)));
    }

    /** The default prompts: both orders of the first held-out pairs (else the first training captions). */
    static List<String> prompts(CaptionData data) {
        Set<String> out = new LinkedHashSet<>();
        long held = data.heldOutSize();
        for (int p = 0; p < PROMPT_PAIRS && 4L * p + 1 < held; p++) {
            out.addAll(data.heldOut(4L * p, 2).captions()); // rows 4p, 4p + 1: the pair in both orders
        }
        if (out.isEmpty()) {
            out.addAll(data.train(0, 0, 2 * PROMPT_PAIRS).captions());
        }
        return List.copyOf(out);
    }

    public DitConfig ditConfig() {
        return ditConfig;
    }

    public TextEncoderConfig textConfig() {
        return textConfig;
    }

    @Override
    public void describe(PrintStream console) {
        if (leader) {
            long params = new TextToImage(ditConfig, textConfig).parameters().stream().mapToLong(p -> p.numel()).sum();
            console.printf("megalith: dit %d layers x %d heads x %d wide, %dx%d patches, text encoder %d layers over "
                    + "%d caption tokens (%s, %d ids, %s mask), %s, %,d parameters, %d %s timesteps (%s), captions "
                    + "dropped %.0f%%%n", ditConfig.nLayer(), ditConfig.nHead(), ditConfig.nEmbd(), ditConfig.patch(),
                    ditConfig.patch(), textConfig.nLayer(), textConfig.textLen(), tokens.tokenizer().kind(),
                    tokens.vocabSize(), textConfig.mask().name().toLowerCase(Locale.ROOT), data.describe(), params,
                    diffusion.timesteps(), diffusion.schedule(), cfg.diffusion().prediction(),
                    100 * diffusion.classDropout());
        }
    }

    /** The canvases' shape and normalisation, the tokenizer and the default prompts: resume and generate read them. */
    @Override
    public byte[] tokenizer() throws IOException {
        return images().encode();
    }

    public DitImages images() throws IOException {
        return new DitImages(data.channels(), data.height(), data.width(), 0, data.classNames(), data.mean(),
                data.std(), new DitImages.Captions(Tokenizers.toBytes(tokens.tokenizer()), prompts(data)));
    }

    @Override
    protected String tokenizerKind() {
        return tokens.tokenizer().kind();
    }

    /**
     * {val_loss, eval_images}: the diffusion loss on the first train.eval_batches x batch_size held-out compositions
     * with their captions (all of them at the end), t and noise fixed by canvas index.
     */
    @Override
    protected Evaluation evaluate(long step, Map<String, HostTensor> full, List<String> samples) {
        DitEvaluation ev = DitEvaluation.ofCaptions(ditConfig, textConfig.withDropout(0), diffusion, cfg.seed(), data,
                tokens, evaluated(data.heldOutSize(), samples), cfg.train().batchSize(), full, manager);
        String line = String.format("step %d: held-out diffusion loss %.4f on %d held-out compositions", step,
                ev.loss(), ev.images());
        if (samples != null) {
            samples.add(line);
        }
        return new Evaluation(ev.record(), line, samples);
    }

    @Override
    protected void closeData() {
        data.close();
    }
}
