package io.megalith.core.inference;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.data.images.ImageDatasets;
import io.megalith.core.data.images.ImageSet;
import io.megalith.core.family.segment.ImageShape;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Torch;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/**
 * A ViT classifier ({@code model.family: vit}) loaded on one rank from the latest complete checkpoint of a run,
 * whatever layout wrote it, with the images its config names (read again from data.*: the same bytes, class names and
 * normalisation the run trained on). It labels images and gives their penultimate features, the space in which
 * generated images are compared with real ones ({@link SampleQuality}).
 */
public final class TrainedVit implements AutoCloseable {
    /** Images run through the model at once. */
    static final int CHUNK = 250;
    private final long step;
    private final ImageDatasets.Stored images;
    private final NDManager manager;
    private final Vit model;

    private TrainedVit(long step, ImageDatasets.Stored images, NDManager manager, Vit model) {
        this.step = step;
        this.images = images;
        this.manager = manager;
        this.model = model;
    }

    public static TrainedVit load(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        Torch.load(threads);
        String runDir = which.runDir();
        SavedRun saved = SavedRun.load(which, hadoop);
        RunState state = saved.state();
        MegalithConfig cfg = saved.config();
        ImageDatasets.Stored images = ImageDatasets.read(cfg, hadoop, null);
        ImageData data = images.open(cfg.data().augment(), cfg.seed());
        VitConfig shape = ImageShape.vit(cfg.model(), data).withDropout(0);
        if (!ImageShape.vitResumeKey(shape, data).equals(state.familyModel())) {
            throw new IOException(runDir + ": the checkpoint's model (" + state.familyModel() + ") is not the one its "
                    + "config and images describe (" + ImageShape.vitResumeKey(shape, data) + ")");
        }
        Vit model = new Vit(shape);
        NDManager manager = Torch.newManager();
        try {
            ParameterStore params = new ParameterStore(model, manager, state.seed());
            params.load(saved.model());
            return new TrainedVit(state.step(), images, manager, model);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    public VitConfig config() {
        return model.config();
    }

    /** The model, its weights alive until {@link #close} (a distillation teacher's: {@code distill.ImageTeacher}). */
    public Vit model() {
        return model;
    }

    /** The step of the checkpoint it was loaded from. */
    public long step() {
        return step;
    }

    /** The run's images as stored, with the normalisation the model reads them in. */
    public ImageDatasets.Stored images() {
        return images;
    }

    /** The penultimate features [n][n_embd] of {@code set} (pooled ln_f output: what the head classifies). */
    public double[][] features(ImageSet set) {
        double[][] out = new double[set.size()][];
        forEachChunk(set, (from, m, pixels, rows) -> {
            float[] f = model.features(pixels, ForwardContext.inference(m)).toFloatArray();
            int c = f.length / rows;
            for (int i = 0; i < rows; i++) {
                double[] row = new double[c];
                for (int j = 0; j < c; j++) {
                    row[j] = f[i * c + j];
                }
                out[from + i] = row;
            }
        });
        return out;
    }

    /** The arg-max class of each image of {@code set}. */
    public int[] classify(ImageSet set) {
        int[] out = new int[set.size()];
        forEachChunk(set, (from, m, pixels, rows) -> System.arraycopy(
                Vit.argmax(model.logits(pixels, ForwardContext.inference(m))), 0, out, from, rows));
        return out;
    }

    private interface ChunkWork {
        void run(int from, NDManager m, PtNDArray pixels, int rows);
    }

    /** {@code set} normalised as the run's batches are, through the model in chunks without gradients. */
    private void forEachChunk(ImageSet set, ChunkWork work) {
        VitConfig c = model.config();
        if (set.channels() != c.channels() || set.height() != c.height() || set.width() != c.width()) {
            throw new IllegalArgumentException("images of " + set.channels() + "x" + set.height() + "x" + set.width()
                    + " for a ViT of " + c.channels() + "x" + c.height() + "x" + c.width());
        }
        JniUtils.setGradMode(false);
        for (int from = 0; from < set.size(); from += CHUNK) {
            int rows = Math.min(CHUNK, set.size() - from);
            float[] pixels = set.slice(from, rows).normalised(images.mean(), images.std());
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                work.run(from, m, Vit.pixels(m, pixels, rows, c), rows);
            }
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
