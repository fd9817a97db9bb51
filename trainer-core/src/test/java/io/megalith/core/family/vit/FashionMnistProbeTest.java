package io.megalith.core.family.vit;

import io.megalith.comm.RankGroups;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * A measurement, not a check (skipped unless asked): the vit family on real Fashion-MNIST through {@link TrainingRun},
 * until the image reader lands, with a minimal IDX reader of its own (no augmentation; images drawn with replacement
 * from (seed, step, row)). E.g. {@code -Dvit.fashion=/work/shared/data/fashion-mnist -Dvit.steps=938} (2 epochs of
 * 128; -Dvit.lr=1.0e-3) prints every evaluation: held-out loss and accuracy on the 10,000 test images at the end.
 */
class FashionMnistProbeTest {
    @TempDir
    Path tmp;

    /** The IDX files of {@code dir}, normalised with Fashion-MNIST's training mean and std. */
    static final class Idx implements ImageData {
        private static final float MEAN = 0.2860f;
        private static final float STD = 0.3530f;
        private final byte[] trainImages;
        private final byte[] trainLabels;
        private final byte[] testImages;
        private final byte[] testLabels;
        private final long seed;

        Idx(Path dir, long seed) throws IOException {
            this.trainImages = read(dir.resolve("train-images-idx3-ubyte.gz"), 16);
            this.trainLabels = read(dir.resolve("train-labels-idx1-ubyte.gz"), 8);
            this.testImages = read(dir.resolve("t10k-images-idx3-ubyte.gz"), 16);
            this.testLabels = read(dir.resolve("t10k-labels-idx1-ubyte.gz"), 8);
            this.seed = seed;
        }

        private static byte[] read(Path gz, int header) throws IOException {
            try (InputStream in = new DataInputStream(new GZIPInputStream(Files.newInputStream(gz)))) {
                in.readNBytes(header);
                return in.readAllBytes();
            }
        }

        private static ImageBatch batch(byte[] images, byte[] labels, long[] rows) {
            float[] px = new float[rows.length * 784];
            int[] y = new int[rows.length];
            for (int i = 0; i < rows.length; i++) {
                int r = (int) rows[i];
                y[i] = labels[r];
                for (int j = 0; j < 784; j++) {
                    px[i * 784 + j] = ((images[r * 784 + j] & 0xff) / 255f - MEAN) / STD;
                }
            }
            return new ImageBatch(px, y, rows.length, 1, 28, 28);
        }

        @Override
        public ImageBatch train(long step, int first, int count) {
            long[] rows = new long[count];
            for (int i = 0; i < count; i++) {
                rows[i] = CounterRng.below(CounterRng.key(seed, step, first + i), 0, trainLabels.length);
            }
            return batch(trainImages, trainLabels, rows);
        }

        @Override
        public ImageBatch heldOut(long first, int count) {
            long[] rows = new long[count];
            for (int i = 0; i < count; i++) {
                rows[i] = first + i;
            }
            return batch(testImages, testLabels, rows);
        }

        @Override
        public int channels() {
            return 1;
        }

        @Override
        public int height() {
            return 28;
        }

        @Override
        public int width() {
            return 28;
        }

        @Override
        public int classes() {
            return 10;
        }

        @Override
        public List<String> classNames() {
            return List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot");
        }

        @Override
        public long trainSize() {
            return trainLabels.length;
        }

        @Override
        public long heldOutSize() {
            return testLabels.length;
        }

        @Override
        public String describe() {
            return "Fashion-MNIST (probe reader)";
        }
    }

    @Test
    @EnabledIfSystemProperty(named = "vit.fashion", matches = ".+")
    void fashionMnist() throws Exception {
        Idx data = new Idx(Path.of(System.getProperty("vit.fashion")), 1337);
        String steps = System.getProperty("vit.steps", "938");
        MegalithConfig cfg = VitRunTest.vitConfig(tmp.resolve("run"), "model.n_layer=6", "model.n_head=4",
                "model.n_embd=128", "model.patch_size=4", "model.pool=mean", "model.pos_emb=sincos",
                "train.max_steps=" + steps, "train.batch_size=128",
                "train.lr=" + System.getProperty("vit.lr", "1.0e-3"), "train.min_lr=1.0e-5",
                "train.warmup_steps=100", "train.weight_decay=0.05", "train.eval_every=469", "train.eval_batches=20",
                "checkpoint.every=0", "runtime.threads=2");
        long t0 = System.nanoTime();
        TrainingRun.Summary s;
        try (TrainingRun run = new TrainingRun(ctx -> new VitRun(ctx, data), cfg, TinyRuns.CONF, System.out,
                RankGroups.single(), true, null)) {
            s = run.run();
        }
        for (Map<String, Object> r : TinyRuns.metrics(cfg)) {
            if (r.containsKey("accuracy")) {
                System.out.println("VITPROBE " + r);
            }
        }
        System.out.printf("VITPROBE %s steps in %.0f s (training %.0f s): held-out accuracy %.4f%n", steps,
                (System.nanoTime() - t0) / 1e9, s.trainSeconds(), s.exactMatch());
    }
}
