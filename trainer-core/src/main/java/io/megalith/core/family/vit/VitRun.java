package io.megalith.core.family.vit;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.Communicator;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.data.images.ImageDatasets;
import io.megalith.core.distill.ImageTeacher;
import io.megalith.core.family.segment.ImageShape;
import io.megalith.core.family.segment.SegmentRun;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.model.SoftTargets;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.parallelize.ParallelVit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.parallelize.VitPlan;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.Part;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The ViT's part of a training run on one rank ({@link SegmentRun}): images from {@link ImageDatasets#open}, a
 * {@link Vit} split by {@link VitPlan}, each step's loss the mean cross-entropy over its images however the batch is
 * cut; evaluation: held-out loss and accuracy ({@link VitEvaluation}) into metrics.jsonl and a console line.
 */
public final class VitRun extends SegmentRun {
    private final ImageData data;
    private final VitConfig vitConfig;
    private final ParallelVit parallel;
    private final ImageTeacher teacher; // distill.teacher, frozen, else null

    public VitRun(Context c) throws IOException {
        this(c, ImageDatasets.open(c.cfg(), c.hadoop(), c.preparedData()));
    }

    /** A run on {@code data} (closed with the run). */
    public VitRun(Context c, ImageData data) throws IOException {
        super(c);
        this.data = data;
        this.vitConfig = config(cfg.model(), data);
        this.parallel = VitPlan.apply(new Vit(vitConfig), Placement.tensorParallel(c.groups().tensorParallel()));
        this.teacher = ImageTeacher.load(cfg.distill(), c.hadoop());
        if (teacher != null) {
            teacher.requireSameImages(data, vitConfig);
        }
        Vit model = parallel.model();
        Freezing.apply(model.parameters(), cfg.finetune());
        train(model, parallel.segments(null, null, 1f), this::part, shape(vitConfig, data), c);
    }

    /**
     * The model's shape from model.* and the data: image size, channels and classes from the data where the config
     * says 0, else they must agree with it ({@link ImageShape#vit}).
     */
    public static VitConfig config(MegalithConfig.Model m, ImageData data) {
        return ImageShape.vit(m, data);
    }

    /** What a resume must find again: the model's shape (no dropout) and the class names. */
    public static String shape(VitConfig c, ImageData data) {
        return ImageShape.vitResumeKey(c, data);
    }

    /** Global rows [first, first + count) of a step as a trainer {@link Part}. */
    private Part part(long step, int first, int count) {
        return part(parallel, data.train(step, first, count), teacher);
    }

    /** {@link #part(ParallelVit, ImageBatch, ImageTeacher)} without a teacher. */
    public static Part part(ParallelVit model, ImageBatch b) {
        return part(model, b, null);
    }

    /**
     * Images {@code b} as a trainer {@link Part} of {@code model}'s chain: the step's loss is the mean
     * cross-entropy over all its images (with a {@code teacher}, the distillation loss), so this part's mean is
     * weighted by its share of them.
     */
    public static Part part(ParallelVit model, ImageBatch b, ImageTeacher teacher) {
        VitConfig shape = model.model().config();
        long[] labels = new long[b.rows()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = b.labels()[i];
        }
        return new Part() {
            @Override
            public long scored() {
                return b.rows(); // one label per image
            }

            @Override
            public long tokens() {
                return (long) b.rows() * shape.tokens();
            }

            @Override
            public int rows() {
                return b.rows();
            }

            @Override
            public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
                    SegmentedPass.Recompute recompute, Communicator tp) {
                float w = (float) ((double) b.rows() / stepRows);
                PtNDArray pixels = Vit.pixels(ctx.manager(), b.pixels(), b.rows(), shape);
                SoftTargets soft = teacher == null ? null : teacher.softTargets(pixels, ctx.manager());
                return SegmentedPass.run(model.segments(labels, soft, ctx.manager(), w), pixels, ctx, 1f, hooks,
                        recompute, tp);
            }
        };
    }

    public VitConfig vitConfig() {
        return vitConfig;
    }

    @Override
    public void describe(PrintStream console) {
        if (leader) {
            console.printf("megalith: vit %d layers x %d heads x %d wide, %dx%d patches of %s, %,d parameters%n",
                    vitConfig.nLayer(), vitConfig.nHead(), vitConfig.nEmbd(), vitConfig.patch(), vitConfig.patch(),
                    data.describe(), VitEvaluation.parameterCount(vitConfig));
            if (teacher != null) {
                VitConfig t = teacher.model().config();
                console.printf("megalith: distilled from %s (vit %d layers x %d wide, %,d parameters, frozen), "
                        + "temperature %s, alpha %s%n", cfg.distill().teacher(), t.nLayer(), t.nEmbd(),
                        VitEvaluation.parameterCount(t), cfg.distill().temperature(), cfg.distill().alpha());
            }
        }
    }

    /** The class names: a resume on data with other classes is refused. */
    @Override
    public byte[] tokenizer() {
        return String.join("\n", data.classNames()).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    protected String tokenizerKind() {
        return "classes";
    }

    /**
     * {val_loss, accuracy, eval_images} and its console line: on the first train.eval_batches x batch_size held-out
     * images, on all of them at the end (then also the summary's report line).
     */
    @Override
    protected Evaluation evaluate(long step, Map<String, HostTensor> full, List<String> samples) {
        long n = samples != null ? data.heldOutSize()
                : Math.min(data.heldOutSize(), (long) cfg.train().evalBatches() * cfg.train().batchSize());
        VitEvaluation ev = VitEvaluation.of(vitConfig, data, n, cfg.train().batchSize(), full, manager);
        String accuracy = String.format("held-out accuracy %.2f%% on %d images", 100 * ev.accuracy(), ev.images());
        if (samples != null) {
            samples.add(accuracy);
        }
        return new Evaluation(ev.record(), String.format("step %d: val loss %.4f, %s", step, ev.loss(), accuracy),
                samples);
    }


    @Override
    protected void closeData() {
        data.close();
        if (teacher != null) {
            teacher.close();
        }
    }
}
