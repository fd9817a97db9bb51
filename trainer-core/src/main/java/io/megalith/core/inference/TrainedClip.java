package io.megalith.core.inference;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.CaptionDatasets;
import io.megalith.core.data.images.ImageSet;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.family.clip.ClipCanvas;
import io.megalith.core.family.clip.ClipEvaluation;
import io.megalith.core.family.clip.ClipRun;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.model.clip.ClipConfig;
import io.megalith.core.model.clip.ClipEmbeddings;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Torch;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;

/**
 * A CLIP run ({@code model.family: clip}) loaded on one rank from a complete checkpoint, whatever layout wrote it, with
 * its tokenizer (the checkpoint's tokenizer.json) and canvas ({@link ClipCanvas}, run.dir/clip.json): unit embeddings
 * of images and captions, zero-shot classification from a prompt template and retrieval by cosine similarity
 * ({@code megalith clip}).
 */
public final class TrainedClip implements TrainedModel {
    private final MegalithConfig cfg;
    private final long step;
    private final ClipCanvas canvas;
    private final CaptionTokens tokens;
    private final NDManager manager;
    private final Clip model;
    private final Configuration hadoop;

    private TrainedClip(MegalithConfig cfg, long step, ClipCanvas canvas, CaptionTokens tokens, NDManager manager,
            Clip model, Configuration hadoop) {
        this.cfg = cfg;
        this.step = step;
        this.canvas = canvas;
        this.tokens = tokens;
        this.manager = manager;
        this.model = model;
        this.hadoop = hadoop;
    }

    public static TrainedClip load(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        Torch.load(threads);
        Torch.enterThread();
        SavedRun saved = SavedRun.load(which, hadoop);
        RunState state = saved.state();
        MegalithConfig cfg = saved.config();
        RunDirFs dir = RunDirFs.of(which.runDir(), hadoop);
        if (!dir.exists(ClipCanvas.FILE)) {
            throw new IOException(which.runDir() + " has no " + ClipCanvas.FILE + " (is it a model.family clip run?)");
        }
        ClipCanvas canvas = ClipCanvas.fromJson(dir.read(ClipCanvas.FILE));
        CaptionTokens tokens = new CaptionTokens(Tokenizers.fromBytes(saved.tokenizer()), cfg.model().textLen());
        ClipConfig shape = config(cfg.model(), canvas, tokens);
        String expected = shape + " classes " + canvas.classNames();
        if (!expected.equals(state.familyModel())) {
            throw new IOException(which.runDir() + ": the checkpoint's model (" + state.familyModel() + ") is not the "
                    + "one its config, tokenizer and " + ClipCanvas.FILE + " describe (" + expected + ")");
        }
        Clip model = new Clip(shape);
        NDManager manager = Torch.newManager();
        try {
            ParameterStore params = new ParameterStore(model, manager, state.seed());
            params.load(saved.model());
            return new TrainedClip(cfg, state.step(), canvas, tokens, manager, model, hadoop);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** The shape {@link ClipRun#config} gives, without dropout, from the saved canvas instead of the data. */
    private static ClipConfig config(MegalithConfig.Model m, ClipCanvas canvas, CaptionTokens tokens) {
        VitConfig image = new VitConfig(canvas.height(), canvas.width(), canvas.channels(), m.patchSize(), 0,
                m.nLayer(), m.nHead(), m.nEmbd(), 0, m.bias(), VitConfig.Pool.valueOf(m.pool().toUpperCase(Locale.ROOT)),
                VitConfig.Positions.valueOf(m.posEmb().toUpperCase(Locale.ROOT)));
        TextEncoderConfig text = new TextEncoderConfig(tokens.vocabSize(), tokens.padId(), m.textLen(), m.nLayer(),
                m.nHead(), m.nEmbd(), 0, m.bias(), TextEncoderConfig.Mask.valueOf(m.textMask().toUpperCase(Locale.ROOT)));
        return new ClipConfig(image, text, m.embedDim());
    }

    @Override
    public MegalithConfig config() {
        return cfg;
    }

    @Override
    public long step() {
        return step;
    }

    public ClipCanvas canvas() {
        return canvas;
    }

    public Clip model() {
        return model;
    }

    public CaptionTokens tokens() {
        return tokens;
    }

    /** The run's captioned data (data.* of its config; data.task captions), for its held-out canvases and items. */
    public CaptionData openData() throws IOException {
        return CaptionDatasets.open(cfg, hadoop, null);
    }

    /** Unit embeddings [rows][D] of normalised pixels. */
    public float[][] embedImages(float[] pixels, int rows) {
        return ClipEmbeddings.images(model, pixels, rows, manager);
    }

    /** Unit embeddings [texts][D] of captions. */
    public float[][] embedTexts(List<String> texts) {
        return ClipEmbeddings.texts(model, tokens, texts, manager);
    }

    /** The prompts of {@code template} ({class}: each class name). */
    public List<String> prompts(String template) {
        if (!template.contains("{class}")) {
            throw new IllegalArgumentException("prompt template \"" + template + "\" has no {class}");
        }
        return ClipEvaluation.prompts(template, canvas.classNames());
    }

    /** The class of each image (normalised pixels): the one whose prompt is nearest. */
    public int[] classify(float[] pixels, int rows, String template) {
        return ClipEmbeddings.nearest(embedImages(pixels, rows), embedTexts(prompts(template)));
    }

    /**
     * Each class's unit embedding [classes][D] from {@code templates}: with one template its prompt's, with several
     * CLIP's prompt ensemble, the mean of the class's prompt embeddings normalised again.
     */
    public float[][] classEmbeddings(List<String> templates) {
        if (templates.isEmpty()) {
            throw new IllegalArgumentException("no prompt template");
        }
        if (templates.size() == 1) {
            return embedTexts(prompts(templates.get(0)));
        }
        return ClipEmbeddings.meanOfUnitRows(templates.stream().map(t -> embedTexts(prompts(t))).toList());
    }

    /** PNG files as the run's canvases read them (normalised as its batches): each must be of the canvas's size. */
    public float[] readPngs(List<Path> files) throws IOException {
        int c = canvas.channels();
        int h = canvas.height();
        int w = canvas.width();
        byte[] bytes = new byte[files.size() * c * h * w];
        for (int i = 0; i < files.size(); i++) {
            BufferedImage img = ImageIO.read(files.get(i).toFile());
            if (img == null) {
                throw new IOException(files.get(i) + ": not an image ImageIO reads (PNG)");
            }
            if (img.getWidth() != w || img.getHeight() != h) {
                throw new IOException(files.get(i) + ": " + img.getWidth() + "x" + img.getHeight() + " pixels, but the "
                        + "run's canvases are " + w + "x" + h);
            }
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y);
                    int[] v = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
                    for (int ch = 0; ch < c; ch++) {
                        int value = c == 1 ? (v[0] + v[1] + v[2]) / 3 : v[ch];
                        bytes[((i * c + ch) * h + y) * w + x] = (byte) value;
                    }
                }
            }
        }
        return new ImageSet(bytes, new int[files.size()], c, h, w).normalised(canvas.mean(), canvas.std());
    }

    /** A clip model generates nothing: it says what to run instead. */
    @Override
    public void generate(GenerateRequest request, PrintStream out) {
        throw new IllegalArgumentException("a model.family clip run does not generate: `megalith clip --run DIR` "
                + "classifies images zero-shot and retrieves images for a caption and captions for an image");
    }

    @Override
    public void close() {
        manager.close();
    }
}
