package io.megalith.core.distill;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedVit;
import io.megalith.core.model.SoftTargets;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * A frozen ViT classifier that teaches a ViT student on the same images (the distill section of a model.family vit
 * run): the whole one-rank model of a run directory's checkpoint (any layout wrote it), held by every rank. It sees
 * each batch as the student does (augmented, normalised), gets no gradient, optimizer state or communication, and
 * only its class distribution softened by the temperature enters the student's loss ({@link SoftTargets}, as for the
 * GPT's {@link Teacher}).
 */
public final class ImageTeacher implements AutoCloseable {
    private final Vit model;
    private final TrainedVit owner; // what frees the model's weights, or null when its caller owns them
    private final List<String> classNames; // null: not checked (a model its caller made)
    private final double[] mean;
    private final double[] std;
    private final float temperature;
    private final float alpha;

    private ImageTeacher(Vit model, TrainedVit owner, List<String> classNames, double[] mean, double[] std,
            float temperature, float alpha) {
        this.model = model;
        this.owner = owner;
        this.classNames = classNames;
        this.mean = mean;
        this.std = std;
        this.temperature = temperature;
        this.alpha = alpha;
        for (Parameter p : model.parameters()) {
            p.freeze();
        }
    }

    /** A teacher already in memory: {@code model} with its weights loaded (its caller frees them), frozen here. */
    public static ImageTeacher of(Vit model, float temperature, float alpha) {
        return new ImageTeacher(model, null, null, null, null, temperature, alpha);
    }

    /** The teacher {@code distill} names, or null when the run has none. */
    public static ImageTeacher load(MegalithConfig.Distill distill, Configuration hadoop) throws IOException {
        if (!distill.active()) {
            return null;
        }
        TrainedVit trained;
        try {
            trained = TrainedVit.load(RunCheckpoint.latest(distill.teacher()), hadoop, 0);
        } catch (IOException | RuntimeException e) {
            throw new InvalidInputException("distill.teacher: " + distill.teacher() + " is not a vit run directory "
                    + "with a complete checkpoint (" + e.getMessage() + "); name the teacher's run.dir", e);
        }
        return new ImageTeacher(trained.model(), trained, trained.images().classNames(), trained.images().mean(),
                trained.images().std(), (float) distill.temperature(), (float) distill.alpha());
    }

    /**
     * Fails naming the difference when the student's images are not the teacher's kind: other classes (in another
     * order), another size, or another normalisation (the teacher would read other pixel values than it learned).
     */
    public void requireSameImages(ImageData student, VitConfig studentShape) throws InvalidInputException {
        VitConfig t = model.config();
        if (t.channels() != studentShape.channels() || t.height() != studentShape.height()
                || t.width() != studentShape.width() || t.classes() != studentShape.classes()) {
            throw new InvalidInputException("distill.teacher: the teacher classifies " + t.classes() + " classes of "
                    + t.channels() + "x" + t.height() + "x" + t.width() + " images, the student " + studentShape.classes()
                    + " of " + studentShape.channels() + "x" + studentShape.height() + "x" + studentShape.width()
                    + "; a teacher teaches the images and classes it was trained on");
        }
        if (classNames != null && !classNames.equals(student.classNames())) {
            throw new InvalidInputException("distill.teacher: the teacher's classes " + classNames + " are not the "
                    + "student's " + student.classNames() + "; train the student on the teacher's images");
        }
        if (mean != null && (!Arrays.equals(mean, student.mean()) || !Arrays.equals(std, student.std()))) {
            throw new InvalidInputException("distill.teacher: the teacher's images are normalised by mean "
                    + Arrays.toString(mean) + " and std " + Arrays.toString(std) + ", the student's by "
                    + Arrays.toString(student.mean()) + " and " + Arrays.toString(student.std())
                    + "; train the student on the teacher's images");
        }
    }

    public Vit model() {
        return model;
    }

    /**
     * Soft targets of {@code images} [B, C, H, W] (allocated on the student's manager): the teacher's class logits,
     * computed without autograd (the trainer runs forward passes with grad mode off outside segments).
     */
    public SoftTargets softTargets(PtNDArray images, NDManager manager) {
        return SoftTargets.of(model.logits(images, ForwardContext.inference(manager)), temperature, alpha);
    }

    @Override
    public void close() {
        if (owner != null) {
            owner.close();
        }
    }
}
