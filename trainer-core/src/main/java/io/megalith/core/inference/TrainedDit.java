package io.megalith.core.inference;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.diffusion.DiffusionConfig;
import io.megalith.core.diffusion.DitDenoiser;
import io.megalith.core.diffusion.ImageGrid;
import io.megalith.core.diffusion.Prediction;
import io.megalith.core.diffusion.Sampler;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
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
import org.apache.hadoop.conf.Configuration;

/**
 * A DiT ({@code model.family: dit}) loaded for sampling from the latest complete checkpoint of a run, whatever layout
 * wrote it, with its EMA weights ({@code ema.<param>} beside the optimizer state). The image shape, classes and
 * normalisation come from the checkpoint's image record ({@link DitImages}), the widths from its saved config, the
 * sampler from its diffusion section unless the request overrides it. Writes a PNG grid (a row per class) or single
 * PNGs.
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

    private TrainedDit(String runDir, MegalithConfig config, long step, DitImages images, NDManager manager, Dit model) {
        this.runDir = runDir;
        this.config = config;
        this.step = step;
        this.images = images;
        this.manager = manager;
        this.model = model;
    }

    public static TrainedDit load(String runDir, Configuration hadoop, int threads) throws IOException {
        Torch.load(threads);
        SavedRun saved = SavedRun.latest(runDir, hadoop);
        RunState state = saved.state();
        MegalithConfig cfg = saved.config();
        DitImages images = DitImages.decode(saved.tokenizer());
        MegalithConfig.Model m = cfg.model();
        DitConfig shape = new DitConfig(images.channels(), images.height(), images.width(), m.patchSize(), m.nLayer(),
                m.nHead(), m.nEmbd(), images.classes());
        if (state.familyModel() == null || !state.familyModel().startsWith(shape + " ")) {
            throw new IOException(runDir + ": the checkpoint's model (" + state.familyModel() + ") is not the one its "
                    + "config and image record describe (" + shape + ")");
        }
        Map<String, HostTensor> ema = new LinkedHashMap<>();
        Dit model = new Dit(shape);
        for (Parameter p : model.parameters()) {
            HostTensor t = saved.optimizer().get("ema." + p.name());
            if (t == null) {
                throw new IOException(runDir + ": the checkpoint of step " + state.step() + " holds no EMA weight ema."
                        + p.name());
            }
            ema.put(p.name(), t);
        }
        NDManager manager = Torch.newManager();
        try {
            ParameterStore params = new ParameterStore(model, manager, state.seed());
            params.load(ema);
            return new TrainedDit(runDir, cfg, state.step(), images, manager, model);
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

    /**
     * A grid of {@code samples} (default 8) images per class, a row each, as {@code <out>/grid.png}; with a count,
     * that many single images (class i mod classes) as {@code <out>/sample_00000.png}, ...
     */
    @Override
    public void generate(GenerateRequest request, PrintStream out) throws IOException {
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
        double eta = o.eta() != null ? o.eta() : d.eta();
        double guidance = o.guidance() != null ? o.guidance() : d.guidance();
        long seed = request.seed() != null ? request.seed() : config.seed();
        DitConfig c = model.config();
        int classes = images.classNames().isEmpty() ? c.classes() : images.classNames().size();
        int columns = request.samples() != null && request.samples() > 0 ? request.samples() : DEFAULT_COLUMNS;
        int n = o.count() != null ? o.count() : classes * columns;
        if (n < 1) {
            throw new IllegalArgumentException("--count: " + n + " images; give at least 1");
        }
        long[] labels = new long[n];
        for (int i = 0; i < n; i++) {
            labels[i] = o.count() != null ? i % classes : i / columns; // the grid: a row per class
        }
        Path dir = Path.of(o.out() != null ? o.out() : runDir + "/samples");
        Files.createDirectories(dir);
        DiffusionConfig diffusion = new DiffusionConfig(d.timesteps(), d.schedule(), Prediction.of(d.prediction()), 0,
                steps, eta, guidance, d.clip(), d.emaDecay());
        int values = c.channels() * c.height() * c.width();
        Sampler s = diffusion.sampler(new DitDenoiser(model, manager), c.nullClass(), values);
        long t0 = System.nanoTime();
        float[] pixels = new float[n * values];
        for (int from = 0; from < n; from += BATCH) {
            long[] part = Arrays.copyOfRange(labels, from, Math.min(n, from + BATCH));
            float[] x = sampler.equals("ddpm") ? s.ddpm(part, guidance, seed, from)
                    : s.ddim(part, steps, eta, guidance, seed, from);
            System.arraycopy(x, 0, pixels, from * values, x.length);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        ImageGrid.Scale scale = ImageGrid.Scale.normalised(images.mean(), images.std());
        String how = sampler.equals("ddpm") ? "ddpm, " + d.timesteps() + " steps"
                : "ddim, " + steps + " steps, eta " + eta;
        if (o.count() != null) {
            List<Path> files = ImageGrid.writeEach(dir, pixels, n, c.channels(), c.height(), c.width(), scale);
            out.printf("wrote %d images (%s, guidance %s, EMA weights of step %d) to %s in %.1f s%n", files.size(), how,
                    guidance, step, dir, seconds);
            return;
        }
        Path grid = dir.resolve("grid.png");
        ImageGrid.writeGrid(grid, pixels, classes, columns, c.channels(), c.height(), c.width(), scale);
        out.printf("wrote %s: %d classes x %d samples (%s, guidance %s, EMA weights of step %d) in %.1f s%n", grid,
                classes, columns, how, guidance, step, seconds);
        out.println("rows: " + String.join(", ", images.classNames()));
    }

    @Override
    public void close() {
        manager.close();
    }
}
