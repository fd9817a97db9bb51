package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.RankGroups;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.Composition;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.family.clip.ClipRun;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.train.TrainingRun;
import io.megalith.launcher.testing.CliRun;
import java.awt.image.BufferedImage;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code megalith clip} on a tiny clip run (trained in process on two drawn classes, since data/captions is built
 * elsewhere): PNG files are classified zero-shot, a caption retrieves its images first, and each image's captions are
 * ranked among candidates.
 */
class ClipCommandTest {
    @TempDir
    Path tmp;

    /** Canvases 8 x 16: horizontal ("stripes") or vertical ("bars") stripes on the left, the right half grey. */
    static final class Stripes implements CaptionData {
        static final List<String> CLASSES = List.of("stripes", "bars");

        @Override
        public int channels() {
            return 1;
        }

        @Override
        public int height() {
            return 8;
        }

        @Override
        public int width() {
            return 16;
        }

        @Override
        public List<String> classNames() {
            return CLASSES;
        }

        @Override
        public long trainSize() {
            return 256;
        }

        @Override
        public CaptionBatch train(long step, int first, int count) {
            int[] labels = new int[count];
            for (int i = 0; i < count; i++) {
                labels[i] = (int) CounterRng.below(CounterRng.key(9, step, first + i), 0, 2);
            }
            return batch(labels);
        }

        @Override
        public CaptionBatch heldOut(long first, int count) {
            int[] labels = new int[count];
            for (int i = 0; i < count; i++) {
                labels[i] = (int) ((first + i) % 2);
            }
            return batch(labels);
        }

        @Override
        public long heldOutSize() {
            return 8;
        }

        @Override
        public ImageBatch heldOutItems(long first, int count) {
            return heldOut(first, count).images();
        }

        @Override
        public long heldOutItemsSize() {
            return 8;
        }

        @Override
        public double[] mean() {
            return new double[] {0.5};
        }

        @Override
        public double[] std() {
            return new double[] {0.5};
        }

        @Override
        public String describe() {
            return "stripes and bars";
        }

        /** The bytes of a canvas of class {@code label}. */
        static int pixel(int label, int y, int x) {
            if (x >= 8) {
                return 128;
            }
            return (label == 0 ? y : x) % 2 == 0 ? 255 : 0;
        }

        private static CaptionBatch batch(int[] labels) {
            int n = labels.length;
            float[] pixels = new float[n * 128];
            List<String> captions = new ArrayList<>();
            List<Composition> what = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                for (int y = 0; y < 8; y++) {
                    for (int x = 0; x < 16; x++) {
                        pixels[i * 128 + y * 16 + x] = (float) ((pixel(labels[i], y, x) / 255.0 - 0.5) / 0.5);
                    }
                }
                captions.add("a photo of a " + CLASSES.get(labels[i]));
                what.add(Composition.single(labels[i]));
            }
            return new CaptionBatch(new ImageBatch(pixels, labels, n, 1, 8, 16), captions, what);
        }
    }

    private Path png(String name, int label) throws Exception {
        BufferedImage img = new BufferedImage(16, 8, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 16; x++) {
                int v = Stripes.pixel(label, y, x);
                img.getRaster().setSample(x, y, 0, v);
            }
        }
        Path file = tmp.resolve(name);
        ImageIO.write(img, "png", file.toFile());
        return file;
    }

    @Test
    void classifiesPngsAndRetrievesBothWays() throws Exception {
        Path runDir = tmp.resolve("run");
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                seed: 5
                run: {dir: "%s", name: clip-command}
                model: {family: clip, n_layer: 1, n_head: 2, n_embd: 16, patch_size: 4, pool: mean, embed_dim: 16,
                        text_len: 24}
                data: {task: captions, builtin: shapes}   # the config names a set; the run reads Stripes
                train: {max_steps: 30, batch_size: 8, lr: 3.0e-3, warmup_steps: 2, eval_every: 30, eval_batches: 1}
                checkpoint: {every: 30, keep_last: 0}
                runtime: {threads: 1}
                """.formatted(runDir), List.of(), "clip command test");
        try (TrainingRun run = new TrainingRun(ctx -> new ClipRun(ctx, new Stripes()), cfg, new Configuration(),
                new PrintStream(OutputStream.nullOutputStream()), RankGroups.single(), true, null)) {
            run.run();
        }
        Path stripes = png("stripes.png", 0);
        Path bars = png("bars.png", 1);
        CliRun r = CliRun.of("clip", "--run", runDir.toString(), "--image", stripes.toString(), "--image",
                bars.toString(), "--caption", "a photo of a bars", "--top-k", "2", "--threads", "1");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("step 30, 2 classes").contains("stripes.png: stripes (")
                .contains("bars.png: bars (").contains("caption \"a photo of a bars\": top 2 images\n  1. bars.png")
                .contains("image stripes.png: top 2 captions\n  1. \"a photo of a stripes\"");
        CliRun none = CliRun.of("clip", "--run", runDir.toString());
        assertThat(none.exit()).isNotZero();
        assertThat(none.err()).contains("--image PNG files or --held-out N");
    }
}
