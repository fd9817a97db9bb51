package io.megalith.core.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageSet;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.report.MetricsLog;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ViT and a DiT trained in process on data.builtin shapes, loaded back from their run directories: the classifier
 * labels the held-out images as its run's final evaluation did; the quality measurement gives its numbers, with
 * real training images far closer to the held-out ones than the bad generator's; the bad generator draws each
 * class's mean image.
 */
class SampleQualityTest {
    @TempDir
    static Path tmp;
    private static MegalithConfig vit;
    private static MegalithConfig dit;

    @BeforeAll
    static void trainBoth() throws Exception {
        vit = ConfigLoader.fromYaml("""
                seed: 3
                run: {dir: "%s", name: tiny-vit}
                model: {family: vit, n_layer: 2, n_head: 4, n_embd: 32, dropout: 0.0, patch_size: 7, pool: mean,
                        pos_emb: sincos}
                data: {task: images, builtin: shapes}
                train: {max_steps: 200, batch_size: 32, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 10, eval_every: 200,
                        eval_batches: 1}
                checkpoint: {every: 200}
                runtime: {threads: 2}
                """.formatted(tmp.resolve("vit")), List.of(), "tiny vit");
        try (TrainingRun run = ModelFamilies.VIT.newInProcessRun(vit, TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run();
        }
        dit = ConfigLoader.fromYaml("""
                seed: 11
                run: {dir: "%s", name: tiny-dit}
                model: {family: dit, n_layer: 2, n_head: 4, n_embd: 32, dropout: 0.0, patch_size: 7}
                data: {task: images, builtin: shapes}
                diffusion: {timesteps: 100, ema_decay: 0.9, sample_steps: 5}
                train: {max_steps: 6, batch_size: 8, lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 2, eval_every: 6,
                        eval_batches: 1}
                checkpoint: {every: 6}
                runtime: {threads: 2}
                """.formatted(tmp.resolve("dit")), List.of(), "tiny dit");
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(dit, TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run();
        }
    }

    @Test
    void theClassifierLabelsHeldOutImagesAsItsRunsFinalEvaluationDid() throws Exception {
        List<Map<String, Object>> metrics = MetricsLog.read(vit.run().dir(), TinyRuns.CONF);
        double reported = metrics.stream().filter(r -> r.containsKey("accuracy"))
                .mapToDouble(r -> ((Number) r.get("accuracy")).doubleValue()).reduce((a, b) -> b).orElseThrow();
        try (TrainedVit classifier = TrainedVit.load(RunCheckpoint.latest(vit.run().dir()), TinyRuns.CONF, 2)) {
            assertThat(classifier.step()).isEqualTo(200);
            ImageSet heldOut = classifier.images().heldOut();
            int[] predicted = classifier.classify(heldOut);
            int hits = 0;
            for (int i = 0; i < predicted.length; i++) {
                hits += predicted[i] == heldOut.labels()[i] ? 1 : 0;
            }
            assertThat(reported).as("twice chance").isGreaterThan(0.2);
            assertThat((double) hits / predicted.length).isCloseTo(reported, within(1.5 / predicted.length));
            double[][] features = classifier.features(heldOut.slice(0, 3));
            assertThat(features).hasDimensions(3, 32);
        }
    }

    @Test
    void measuresFidelityAndTheDistancesWithTheirReferences() throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        SampleQuality q;
        try (TrainedDit generator = TrainedDit.load(RunCheckpoint.latest(dit.run().dir()), TinyRuns.CONF, 2);
                TrainedVit classifier = TrainedVit.load(RunCheckpoint.latest(vit.run().dir()), TinyRuns.CONF, 2)) {
            TrainedDit.Sampling how = generator.sampling(new GenerateRequest(List.of(), 1, null, null, null, null, null));
            q = SampleQuality.measure(generator, how, classifier, 3, 200, new PrintStream(log, true,
                    StandardCharsets.UTF_8));
        }
        assertThat(log.toString(StandardCharsets.UTF_8)).contains("sampled 30 images (3 per class)");
        assertThat(Arrays.stream(q.classFidelity()).boxed().toList()).hasSize(10)
                .allSatisfy(f -> assertThat(f).isBetween(0.0, 1.0));
        assertThat(q.fidelity()).isBetween(0.0, 1.0);
        assertThat(q.sampleSeconds()).isPositive();
        assertThat(q.classifierAccuracy()).as("twice chance").isGreaterThan(0.2);
        assertThat(Arrays.stream(q.classifierByClass()).average().orElseThrow())
                .isCloseTo(q.classifierAccuracy(), within(1e-9)); // shapes: 20 held-out images per class
        assertThat(q.trainVsHeldOut()).isPositive().isLessThan(q.badVsHeldOut() / 3);
        assertThat(q.samplesVsHeldOut()).isPositive().isFinite();
    }

    /** Sample i's noise is keyed by its global index: two calls over consecutive ranges give one call's images. */
    @Test
    void samplesInPartsAreTheSamplesOfOneCall() throws Exception {
        long[] labels = {0, 1, 2, 3, 4, 5};
        try (TrainedDit generator = TrainedDit.load(RunCheckpoint.latest(dit.run().dir()), TinyRuns.CONF, 2)) {
            TrainedDit.Sampling how = generator.sampling(new GenerateRequest(List.of(), 1, null, null, null, null, null));
            float[] whole = generator.sample(labels, 0, how);
            float[] head = generator.sample(Arrays.copyOf(labels, 2), 0, how);
            float[] tail = generator.sample(Arrays.copyOfRange(labels, 2, 6), 2, how);
            float[] again = generator.sample(Arrays.copyOfRange(labels, 2, 6), 0, how);
            int n = whole.length / labels.length;
            for (int i = 0; i < whole.length; i++) {
                float part = i < 2 * n ? head[i] : tail[i - 2 * n];
                assertThat(part).as("value %d", i).isCloseTo(whole[i], within(1e-4f));
            }
            assertThat(again).as("other indices, other noise").isNotEqualTo(tail);
        }
    }

    @Test
    void theBadGeneratorDrawsEachClassMeanImagePlusNoise() {
        int n = 16;
        byte[] pixels = new byte[4 * n];
        int[] labels = {0, 0, 1, 1};
        for (int p = 0; p < n; p++) {
            pixels[p] = 10;
            pixels[n + p] = 30; // class 0: mean 20, sd 10
            pixels[2 * n + p] = (byte) 200;
            pixels[3 * n + p] = (byte) 200; // class 1: 200, no spread
        }
        ImageSet bad = SampleQuality.badGenerator(new ImageSet(pixels, labels, 1, 4, 4), 2000, 2, 7);
        double[] sum = new double[2];
        double[] squares = new double[2];
        for (int i = 0; i < bad.size(); i++) {
            int c = bad.labels()[i];
            assertThat(c).isEqualTo(i % 2);
            for (int p = 0; p < n; p++) {
                double v = bad.pixels()[i * n + p] & 0xff;
                sum[c] += v;
                squares[c] += v * v;
            }
        }
        double per = 1000.0 * n;
        assertThat(sum[0] / per).isCloseTo(20, within(0.5));
        assertThat(Math.sqrt(squares[0] / per - Math.pow(sum[0] / per, 2))).isCloseTo(10, within(0.5));
        assertThat(sum[1] / per).isEqualTo(200);
    }

    @Test
    void agreementIsPerClassShareOfOwnLabels() {
        double[] a = SampleQuality.agreement(new int[] {0, 1, 1, 2}, new int[] {0, 0, 1, 1}, 3);
        assertThat(a[0]).isEqualTo(0.5);
        assertThat(a[1]).isEqualTo(0.5);
        assertThat(a[2]).isNaN();
    }
}
