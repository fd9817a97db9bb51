package io.megalith.core.family.dit;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.data.images.ImageDatasets;
import io.megalith.core.diffusion.DiffusionPart;
import io.megalith.core.family.segment.ImageShape;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.inference.DitImages;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.parallelize.DitPlan;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.Part;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;

/**
 * The class-conditioned DiT's part of a training run on one rank ({@link DiffusionRun}): images from
 * {@link ImageDatasets#open}, noised by {@link DiffusionRun} (t, noise and label drops keyed by (seed, step, global
 * row)), a {@link Dit} split by {@link DitPlan}, each step's loss the mean squared error over its rows
 * ({@link DiffusionPart}); the EMA of the weights ({@link WeightAverage}) updated after every step and checkpointed
 * with the optimizer state; evaluation: the held-out diffusion loss ({@link DitEvaluation}) into metrics.jsonl.
 */
public final class DitRun extends DiffusionRun {
    private final ImageData data;
    private final DitConfig ditConfig;
    private final ParallelDit parallel;

    public DitRun(Context c) throws IOException {
        this(c, ImageDatasets.open(c.cfg(), c.hadoop(), c.preparedData()));
    }

    /** A run on {@code data} (closed with the run). */
    public DitRun(Context c, ImageData data) throws IOException {
        super(c);
        this.data = data;
        this.ditConfig = config(cfg.model(), data);
        this.parallel = DitPlan.apply(new Dit(ditConfig), Placement.tensorParallel(c.groups().tensorParallel()));
        Freezing.apply(parallel.model().parameters(), cfg.finetune()); // finetune.freeze: prefixes that do not train
        trainAveraged(parallel.model(), ditConfig.nullClass(), parallel.segments(null, null), this::part,
                ditConfig.toString(), c);
    }

    /**
     * The model's shape from model.* and the data: image size, channels and classes from the data where the config
     * says 0, else they must agree with it.
     */
    public static DitConfig config(MegalithConfig.Model m, ImageData data) {
        int classes = ImageShape.classes(m, data);
        return new DitConfig(data.channels(), data.height(), data.width(), m.patchSize(), m.nLayer(), m.nHead(),
                m.nEmbd(), classes);
    }

    /** Global rows [first, first + count) of a step, noised, as a trainer {@link Part}. */
    private Part part(long step, int first, int count) {
        return DiffusionPart.of(parallel, noising.rows(data.train(step, first, count), step, first));
    }

    public DitConfig ditConfig() {
        return ditConfig;
    }

    @Override
    public void describe(PrintStream console) {
        if (leader) {
            console.printf("megalith: dit %d layers x %d heads x %d wide, %dx%d patches of %s, %,d parameters, %d %s "
                    + "timesteps (%s)%n", ditConfig.nLayer(), ditConfig.nHead(), ditConfig.nEmbd(), ditConfig.patch(),
                    ditConfig.patch(), data.describe(), DitEvaluation.parameterCount(ditConfig),
                    diffusion.timesteps(), diffusion.schedule(), cfg.diffusion().prediction());
        }
    }

    /** The images' shape, classes and normalisation: a resume on other data is refused, generation reads them. */
    @Override
    public byte[] tokenizer() {
        return images().encode();
    }

    public DitImages images() {
        return new DitImages(data.channels(), data.height(), data.width(), ditConfig.classes(), data.classNames(),
                data.mean(), data.std());
    }

    @Override
    protected String tokenizerKind() {
        return "images";
    }

    /**
     * {val_loss, eval_images}: the diffusion loss on the first train.eval_batches x batch_size held-out images (all of
     * them at the end), with t and noise fixed by image index.
     */
    @Override
    protected Evaluation evaluate(long step, Map<String, HostTensor> full, List<String> samples) {
        DitEvaluation ev = DitEvaluation.of(ditConfig, diffusion, cfg.seed(), data, evaluated(data.heldOutSize(), samples), cfg.train().batchSize(), full,
                manager);
        String line = String.format("step %d: held-out diffusion loss %.4f on %d images", step, ev.loss(), ev.images());
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
