package io.megalith.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.CaptionDatasets;
import io.megalith.core.diffusion.ImageGrid;
import io.megalith.core.inference.CompositionFidelity;
import io.megalith.core.inference.DitImages;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedDit;
import io.megalith.core.inference.TrainedVit;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * The composition fidelity of a text-to-image DiT run (model.family dit, data.task captions) judged by a ViT run
 * trained on single items ({@link CompositionFidelity}): {@code -Dquality.samples} (default 500) canvases sampled from
 * the captions of the DiT run's held-out compositions (pairs of classes never together in training; in turn every
 * held-out pair, both orders, both phrasings), each cut into its two cells and each cell classified; prints the share
 * with both items in the caption's order, of cells right, and of swaps; writes {@code composition-grid.png} (the first
 * {@code -Dquality.gridRows} x 4 samples, a row per held-out pair: its 4 captions in turn), {@code
 * composition-grid.txt} (each cell's caption and judged items) and {@code composition.json} to OUT_DIR (default: the
 * DiT run's samples/), e.g.
 * <pre>
 * java -cp bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/runtime-classpath.txt) \
 *   io.megalith.bench.CompositionQuality runs/fashion-mnist-t2i runs/fashion-mnist-vit [OUT_DIR]
 * </pre>
 * Sampling follows the DiT run's diffusion section unless -Dquality.guidance, -Dquality.steps, -Dquality.sampler or
 * -Dquality.eta say otherwise; -Dquality.ditStep the DiT checkpoint (default: the latest); -Dquality.threads (default
 * 2) libtorch threads. Run from the directory both runs' data.path are relative to.
 */
public final class CompositionQuality {
    /** Grid columns: the 4 captions of a held-out pair's canvases (two orders x two phrasings). */
    static final int COLUMNS = 4;

    private CompositionQuality() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: CompositionQuality DIT_RUN_DIR VIT_RUN_DIR [OUT_DIR]");
            System.exit(2);
        }
        int samples = Integer.getInteger("quality.samples", 500);
        int gridRows = Integer.getInteger("quality.gridRows", 8);
        SamplingOptions options = SamplingOptions.fromProperties();
        int threads = options.threads();
        Configuration hadoop = new Configuration();
        Path out = Path.of(args.length > 2 ? args[2] : args[0] + "/samples");
        Files.createDirectories(out);
        try (TrainedDit dit = options.loadDit(args[0], hadoop);
                TrainedVit vit = TrainedVit.load(RunCheckpoint.latest(args[1]), hadoop, threads);
                CaptionData data = CaptionDatasets.open(dit.config(), hadoop, null)) {
            if (!dit.textConditioned()) {
                throw new IllegalArgumentException(args[0] + " is a class-conditioned dit run; use DiffusionQuality");
            }
            TrainedDit.Sampling how = dit.sampling(options.request());
            System.out.printf("DiT step %d (%s), ViT step %d; %s, guidance %s on %d threads; %s%n", dit.step(),
                    args[0], vit.step(), how.describe(dit.config().diffusion().timesteps()), how.guidance(), threads,
                    data.describe());
            CompositionFidelity.Measured m = CompositionFidelity.measure(dit, how, vit, data, samples, System.out);
            CompositionFidelity f = m.fidelity();
            System.out.printf("QUALITY both items and their order right in %.1f%% of %d held-out compositions%n",
                    100 * f.both(), f.samples());
            System.out.printf("QUALITY cells right %.1f%% (first cell %.1f%%, second %.1f%%); items swapped %.1f%%%n",
                    100 * f.eachCell(), 100 * f.firstCell(), 100 * f.secondCell(), 100 * f.swapped());
            System.out.printf("QUALITY sampling %d canvases took %.1f s%n", f.samples(), m.sampleSeconds());
            System.out.printf("QUALITY the judge on the real held-out canvases of those captions: both items and "
                    + "order %.1f%%, cells %.1f%%%n", 100 * m.real().both(), 100 * m.real().eachCell());
            writeGrid(dit, vit, m, Math.min(gridRows, samples / COLUMNS), out);
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("dit_run", args[0]);
            json.put("dit_step", dit.step());
            json.put("vit_run", args[1]);
            json.put("vit_step", vit.step());
            json.put("sampling", how);
            json.putAll(f.record());
            json.put("sample_seconds", m.sampleSeconds());
            json.put("judge_on_real_canvases", m.real().record());
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(
                    out.resolve("composition.json").toFile(), json);
        }
    }

    /** The first rows x {@link #COLUMNS} samples as a PNG grid and each cell's caption and judged items beside it. */
    private static void writeGrid(TrainedDit dit, TrainedVit vit, CompositionFidelity.Measured m, int rows, Path out)
            throws Exception {
        if (rows < 1) {
            return;
        }
        DitImages images = dit.images();
        int n = rows * COLUMNS;
        int values = images.channels() * images.height() * images.width();
        Path grid = out.resolve("composition-grid.png");
        ImageGrid.writeGrid(grid, Arrays.copyOf(m.pixels(), n * values), rows, COLUMNS, images.channels(),
                images.height(), images.width(), ImageGrid.Scale.normalised(images.mean(), images.std()));
        List<String> names = vit.images().classNames();
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] want = CompositionFidelity.expected(m.compositions().get(i));
            int a = m.predicted()[2 * i];
            int b = m.predicted()[2 * i + 1];
            lines.add(String.format("row %d col %d: \"%s\" -> judged %s | %s (%s)", i / COLUMNS + 1, i % COLUMNS + 1,
                    m.captions().get(i), names.get(a), names.get(b), a == want[0] && b == want[1] ? "right"
                            : "wrong"));
        }
        Files.write(out.resolve("composition-grid.txt"), lines);
        System.out.printf("wrote %s (%d rows x %d: a row per held-out pair) and its captions in %s%n", grid, rows,
                COLUMNS, out.resolve("composition-grid.txt"));
    }
}
