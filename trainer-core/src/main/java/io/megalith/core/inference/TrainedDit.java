package io.megalith.core.inference;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageSet;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.diffusion.Conditioning;
import io.megalith.core.diffusion.DiffusionConfig;
import io.megalith.core.diffusion.DitDenoiser;
import io.megalith.core.diffusion.ImageGrid;
import io.megalith.core.diffusion.Prediction;
import io.megalith.core.diffusion.Sampler;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.model.dit.TextToImage;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.apache.hadoop.conf.Configuration;

/**
 * A DiT ({@code model.family: dit}) loaded for sampling from the latest complete checkpoint of a run, whatever layout
 * wrote it, with its EMA weights ({@code ema.<param>} beside the optimizer state). The image shape, classes and
 * normalisation come from the checkpoint's image record ({@link DitImages}), the widths from its saved config, the
 * sampler from its diffusion section unless the request overrides it. Writes a PNG grid (a row per class) or single
 * PNGs. A text-to-image run (data.task captions: its record holds the tokenizer and default prompts) loads its text
 * encoder's EMA weights too and samples a row per prompt (its captions' token states read by the cross-attentions).
 */
public final class TrainedDit implements TrainedModel {
    /** Grid columns when the request gives no --samples. */
    static final int DEFAULT_COLUMNS = 8;
    /** Rows sampled in one batch (each is run twice, conditional and unconditional). */
    static final int BATCH = 64;
    private final String runDir;
    private final MegalithConfig config;
    private final long step;
    private final DitImages images;
    private final NDManager manager;
    private final Dit model;
    private final TextToImage text; // null: class-conditioned
    private final CaptionTokens tokens; // null: class-conditioned

    private TrainedDit(String runDir, MegalithConfig config, long step, DitImages images, NDManager manager, Dit model,
            TextToImage text, CaptionTokens tokens) {
        this.runDir = runDir;
        this.config = config;
        this.step = step;
        this.images = images;
        this.manager = manager;
        this.model = model;
        this.text = text;
        this.tokens = tokens;
    }

    public static TrainedDit load(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        Torch.load(threads);
        String runDir = which.runDir();
        SavedRun saved = SavedRun.load(which, hadoop);
        RunState state = saved.state();
        MegalithConfig cfg = saved.config();
        DitImages images = DitImages.decode(saved.tokenizer());
        MegalithConfig.Model m = cfg.model();
        CaptionTokens tokens = images.captions() == null ? null
                : new CaptionTokens(Tokenizers.fromBytes(images.captions().tokenizer()), m.textLen());
        DitConfig shape = tokens != null ? TextToImage.ditConfig(m, images.channels(), images.height(), images.width())
                : new DitConfig(images.channels(), images.height(), images.width(), m.patchSize(), m.nLayer(),
                        m.nHead(), m.nEmbd(), images.classes());
        TextToImage text = tokens == null ? null : new TextToImage(shape, TextToImage.encoderConfig(m, tokens)
                .withDropout(0));
        Module whole = text != null ? text : new Dit(shape);
        Dit model = text != null ? text.dit() : (Dit) whole;
        if (state.familyModel() == null || !state.familyModel().startsWith(shape + " ")) {
            throw new IOException(runDir + ": the checkpoint's model (" + state.familyModel() + ") is not the one its "
                    + "config and image record describe (" + shape + ")");
        }
        Map<String, HostTensor> ema = new LinkedHashMap<>();
        for (Parameter p : whole.parameters()) {
            HostTensor t = saved.optimizer().get("ema." + p.name());
            if (t == null) {
                throw new IOException(runDir + ": the checkpoint of step " + state.step() + " holds no EMA weight ema."
                        + p.name());
            }
            ema.put(p.name(), t);
        }
        NDManager manager = Torch.newManager();
        try {
            ParameterStore params = new ParameterStore(whole, manager, state.seed());
            params.load(ema);
            return new TrainedDit(runDir, cfg, state.step(), images, manager, model, text, tokens);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    @Override
    public MegalithConfig config() {
        return config;
    }

    @Override
    public long step() {
        return step;
    }

    public DitImages images() {
        return images;
    }

    /** How images are sampled: the run's diffusion section unless a request overrides it. */
    public record Sampling(String sampler, int steps, double eta, double guidance, long seed) {
        /** ddpm: ancestral over all timesteps; else ddim over {@code steps} with noise {@code eta}. */
        public String describe(int timesteps) {
            return sampler.equals("ddpm") ? "ddpm, " + timesteps + " steps" : "ddim, " + steps + " steps, eta " + eta;
        }
    }

    /** The sampling settings of {@code request}, the run's own where it gives none; bad values name the option. */
    public Sampling sampling(GenerateRequest request) {
        GenerateRequest.Images o = request.images();
        MegalithConfig.Diffusion d = config.diffusion();
        String sampler = o.sampler() != null ? o.sampler() : d.sampler();
        if (!MegalithConfig.Diffusion.SAMPLERS.contains(sampler)) {
            throw new IllegalArgumentException("--sampler: " + sampler + ": one of " + MegalithConfig.Diffusion.SAMPLERS);
        }
        int steps = o.steps() != null ? o.steps() : d.sampleSteps();
        if (steps < 1 || steps > d.timesteps()) {
            throw new IllegalArgumentException("--steps: " + steps + " must be in 1.." + d.timesteps()
                    + " (the run's diffusion.timesteps)");
        }
        return new Sampling(sampler, steps, o.eta() != null ? o.eta() : d.eta(),
                o.guidance() != null ? o.guidance() : d.guidance(),
                request.seed() != null ? request.seed() : config.seed());
    }

    /**
     * Images of the classes {@code labels}, normalised as the run's data ([n, C, H, W]), sampled in batches of
     * {@link #BATCH}; {@code labels[i]} is sample {@code firstSample + i}, whose noise depends only on (seed, that
     * index): calls with consecutive ranges of indices give the images of one call over all of them.
     */
    public float[] sample(long[] labels, long firstSample, Sampling how) {
        if (text != null) {
            throw new IllegalStateException(runDir + " is a text-to-image run: sample captions, not classes");
        }
        return sample(labels.length, from -> new Conditioning.Labels(Arrays.copyOfRange(labels, from,
                Math.min(labels.length, from + BATCH))), firstSample, how);
    }

    /**
     * Images of the captions {@code prompts} (a text-to-image run), normalised as the run's data, as {@link #sample}:
     * {@code prompts.get(i)} is sample {@code firstSample + i}, whose noise depends only on (seed, that index).
     */
    public float[] sampleCaptions(List<String> prompts, long firstSample, Sampling how) {
        if (text == null) {
            throw new IllegalStateException(runDir + " is a class-conditioned run: sample classes, not captions");
        }
        return sample(prompts.size(), from -> captions(prompts.subList(from, Math.min(prompts.size(), from + BATCH))),
                firstSample, how);
    }

    /**
     * The EMA model's noise prediction [C, H, W] for one noised image {@code x} at timestep {@code t} under each
     * condition of {@code conditions} (a text-to-image run: captions, null for the unconditional null text; else
     * class indices as strings, null for the null class), in order: how much the prediction moves with the condition
     * is what guidance amplifies ({@code bench/ConditionSensitivity}).
     */
    public float[][] predictNoise(float[] x, long t, List<String> conditions) {
        int n = conditions.size();
        DitConfig c = model.config();
        int values = c.channels() * c.height() * c.width();
        float[] xs = new float[n * values];
        for (int i = 0; i < n; i++) {
            System.arraycopy(x, 0, xs, i * values, values);
        }
        long[] ts = new long[n];
        Arrays.fill(ts, t);
        DitDenoiser denoiser = new DitDenoiser(model, manager);
        float[] eps;
        if (text != null) {
            List<String> captions = conditions.stream().map(s -> s == null ? "" : s).toList();
            Conditioning.Text read = captions(captions);
            boolean[] dropped = new boolean[n];
            for (int i = 0; i < n; i++) {
                dropped[i] = conditions.get(i) == null;
            }
            eps = denoiser.predict(xs, ts, new Conditioning.Text(read.states(), read.text().withDrops(dropped),
                    read.width()), n);
        } else {
            long[] labels = conditions.stream().mapToLong(s -> s == null ? c.nullClass() : Long.parseLong(s))
                    .toArray();
            eps = denoiser.predict(xs, ts, labels, n);
        }
        float[][] out = new float[n][values];
        for (int i = 0; i < n; i++) {
            System.arraycopy(eps, i * values, out[i], 0, values);
        }
        return out;
    }

    /** The captions' token states from the text encoder, every non-pad token read, none dropped. */
    private Conditioning.Text captions(List<String> prompts) {
        int n = prompts.size();
        long[] ids = tokens.encode(prompts);
        DitText read = TextToImage.captions(ids, n, tokens.padId(), new boolean[n]);
        return new Conditioning.Text(text.states(ids, n, manager), read, text.encoder().config().nEmbd());
    }

    /** {@code n} samples in batches of {@link #BATCH}, batch {@code from}'s conditioning from {@code condition}. */
    private float[] sample(int n, IntFunction<Conditioning> condition, long firstSample,
            Sampling how) {
        MegalithConfig.Diffusion d = config.diffusion();
        DiffusionConfig diffusion = new DiffusionConfig(d.timesteps(), d.schedule(), Prediction.of(d.prediction()), 0,
                how.steps(), how.eta(), how.guidance(), d.clip(), d.emaDecay());
        DitConfig c = model.config();
        int values = c.channels() * c.height() * c.width();
        Sampler s = diffusion.sampler(new DitDenoiser(model, manager), c.nullClass(), values);
        float[] pixels = new float[n * values];
        for (int from = 0; from < n; from += BATCH) {
            Conditioning part = condition.apply(from);
            long first = firstSample + from;
            float[] x = how.sampler().equals("ddpm") ? s.ddpm(part, how.guidance(), how.seed(), first)
                    : s.ddim(part, how.steps(), how.eta(), how.guidance(), how.seed(), first);
            System.arraycopy(x, 0, pixels, from * values, x.length);
        }
        return pixels;
    }

    /** Whether the run generates from captions (data.task captions) rather than classes. */
    public boolean textConditioned() {
        return text != null;
    }

    /** The prompts a text-to-image run samples by default: both orders of its first held-out compositions. */
    public List<String> defaultPrompts() {
        return images.captions() == null ? List.of() : images.captions().prompts();
    }

    /** Sampled {@code pixels} as the bytes their PNGs hold (the run's normalisation undone, rounded, clamped). */
    public ImageSet stored(float[] pixels, long[] labels) {
        DitConfig c = model.config();
        ImageGrid.Scale scale = scale();
        int plane = c.height() * c.width();
        byte[] bytes = new byte[pixels.length];
        for (int at = 0; at < pixels.length; at++) {
            bytes[at] = (byte) scale.toByte(pixels[at], (at / plane) % c.channels());
        }
        int[] classes = new int[labels.length];
        for (int i = 0; i < labels.length; i++) {
            classes[i] = (int) labels[i];
        }
        return new ImageSet(bytes, classes, c.channels(), c.height(), c.width());
    }

    private ImageGrid.Scale scale() {
        return ImageGrid.Scale.normalised(images.mean(), images.std());
    }

    /** The number of real classes (the null class not counted). */
    public int classes() {
        return images.classNames().isEmpty() ? model.config().classes() : images.classNames().size();
    }

    /**
     * A grid of {@code samples} (default 8) images per row, a row per class (a text-to-image run: per prompt,
     * {@code --prompt}, repeatable; default the run's held-out compositions), as {@code <out>/grid.png}; with a count,
     * that many single images (row i mod rows) as {@code <out>/sample_00000.png}, ...
     */
    @Override
    public void generate(GenerateRequest request, PrintStream out) throws IOException {
        GenerateRequest.Images o = request.images();
        Sampling how = sampling(request);
        DitConfig c = model.config();
        List<String> prompts = text != null ? (request.prompts().isEmpty() ? defaultPrompts() : request.prompts())
                : null;
        if (prompts != null && prompts.isEmpty()) {
            throw new IllegalArgumentException("--prompt: the run records no default prompts; give at least one");
        }
        int rows = prompts != null ? prompts.size() : classes();
        int columns = request.samples() != null && request.samples() > 0 ? request.samples() : DEFAULT_COLUMNS;
        int n = o.count() != null ? o.count() : rows * columns;
        if (n < 1) {
            throw new IllegalArgumentException("--count: " + n + " images; give at least 1");
        }
        int[] rowOf = new int[n];
        for (int i = 0; i < n; i++) {
            rowOf[i] = o.count() != null ? i % rows : i / columns; // the grid: a row per class or prompt
        }
        Path dir = Path.of(o.out() != null ? o.out() : runDir + "/samples");
        Files.createDirectories(dir);
        long t0 = System.nanoTime();
        float[] pixels = prompts != null
                ? sampleCaptions(Arrays.stream(rowOf).mapToObj(prompts::get).toList(), 0, how)
                : sample(Arrays.stream(rowOf).asLongStream().toArray(), 0, how);
        double seconds = (System.nanoTime() - t0) / 1e9;
        String what = how.describe(config.diffusion().timesteps());
        if (o.count() != null) {
            List<Path> files = ImageGrid.writeEach(dir, pixels, n, c.channels(), c.height(), c.width(), scale());
            out.printf("wrote %d images (%s, guidance %s, EMA weights of step %d) to %s in %.1f s%n", files.size(),
                    what, how.guidance(), step, dir, seconds);
            for (int i = 0; prompts != null && i < Math.min(n, rows); i++) {
                out.printf("%s: \"%s\"%n", files.get(i).getFileName(), prompts.get(rowOf[i]));
            }
            return;
        }
        Path grid = dir.resolve("grid.png");
        ImageGrid.writeGrid(grid, pixels, rows, columns, c.channels(), c.height(), c.width(), scale());
        out.printf("wrote %s: %d %s x %d samples (%s, guidance %s, EMA weights of step %d) in %.1f s%n", grid, rows,
                prompts != null ? "prompts" : "classes", columns, what, how.guidance(), step, seconds);
        if (prompts == null) {
            out.println("rows: " + String.join(", ", images.classNames()));
        }
        for (int i = 0; prompts != null && i < rows; i++) {
            out.printf("row %d: \"%s\"%n", i + 1, prompts.get(i));
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
