package io.megalith.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.SampleQuality;
import io.megalith.core.inference.TrainedDit;
import io.megalith.core.inference.TrainedVit;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * The quality of a trained DiT's samples judged by a trained ViT on the same images ({@link SampleQuality}): class
 * fidelity of {@code per-class} samples per class, and Frechet distances in the ViT's penultimate features of
 * {@code images} samples, training images and a bad generator's images against as many held-out images, e.g.
 * <pre>
 * java -cp bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/runtime-classpath.txt) \
 *   -Dquality.perClass=100 -Dquality.images=5000 io.megalith.bench.DiffusionQuality runs/fashion-mnist-dit \
 *   runs/fashion-mnist-vit [out.json]
 * </pre>
 * Sampling follows the DiT run's diffusion section unless -Dquality.guidance, -Dquality.steps, -Dquality.sampler or
 * -Dquality.eta say otherwise; -Dquality.ditStep the DiT checkpoint (default: the latest); -Dquality.threads (default 2) libtorch threads. Run from the directory the ViT run's
 * data.path is relative to.
 */
public final class DiffusionQuality {
    private DiffusionQuality() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: DiffusionQuality DIT_RUN_DIR VIT_RUN_DIR [OUT.json]");
            System.exit(2);
        }
        int perClass = Integer.getInteger("quality.perClass", 100);
        int images = Integer.getInteger("quality.images", 5000);
        SamplingOptions options = SamplingOptions.fromProperties();
        int threads = options.threads();
        Configuration hadoop = new Configuration();
        try (TrainedDit dit = options.loadDit(args[0], hadoop);
                TrainedVit vit = TrainedVit.load(RunCheckpoint.latest(args[1]), hadoop, threads)) {
            TrainedDit.Sampling how = dit.sampling(options.request());
            System.out.printf("DiT step %d (%s), ViT step %d; %s, guidance %s on %d threads%n", dit.step(), args[0],
                    vit.step(), how.sampler(), how.guidance(), threads);
            SampleQuality q = SampleQuality.measure(dit, how, vit, perClass, images, System.out);
            System.out.printf("QUALITY class fidelity %.1f%% of %d samples (per class %s)%n", 100 * q.fidelity(),
                    perClass * dit.classes(), percentages(q.classFidelity()));
            System.out.printf("QUALITY sampling %d images took %.1f s%n", perClass * dit.classes(), q.sampleSeconds());
            System.out.printf("QUALITY Frechet distance over %d images each vs held-out: samples %.3f, train images "
                    + "(floor) %.3f, class means + noise (bad generator) %.3f%n", q.images(), q.samplesVsHeldOut(),
                    q.trainVsHeldOut(), q.badVsHeldOut());
            System.out.printf("QUALITY classifier accuracy on those held-out images %.2f%% (per class %s); it labels "
                    + "%.1f%% of the bad generator's images with their class%n", 100 * q.classifierAccuracy(),
                    percentages(q.classifierByClass()), 100 * q.badFidelity());
            if (args.length > 2) {
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("dit_run", args[0]);
                out.put("dit_step", dit.step());
                out.put("vit_run", args[1]);
                out.put("vit_step", vit.step());
                out.put("sampling", how);
                out.putAll(q.record());
                new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(new File(args[2]), out);
            }
        }
    }

    private static String percentages(double[] shares) {
        StringBuilder b = new StringBuilder();
        for (double s : shares) {
            b.append(b.length() == 0 ? "" : " ").append(String.format("%.0f", 100 * s));
        }
        return b.toString();
    }
}
