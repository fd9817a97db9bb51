package io.megalith.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.family.clip.ClipEvaluation;
import io.megalith.core.inference.ClipRetrieval;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedClip;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * The quality of a trained clip run on its data's held-out sets ({@link ClipRetrieval}): zero-shot accuracy on every
 * held-out single item from the prompts "a photo of a {class}"; caption -> image and image -> caption recall@1 and @5
 * on {@code canvases} held-out compositions (pairs of classes never together in training); swap accuracy on those
 * canvases (a bag of words scores at most 50%), e.g.
 * <pre>
 * java -cp bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/runtime-classpath.txt) \
 *   -Dquality.canvases=1000 io.megalith.bench.ClipQuality runs/fashion-mnist-clip [out.json]
 * </pre>
 * -Dquality.step the checkpoint (default: the latest); -Dquality.items held-out items (default: all);
 * -Dquality.threads (default 2) libtorch threads. Run from the directory the run's data.path is relative to.
 */
public final class ClipQuality {
    private ClipQuality() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: ClipQuality CLIP_RUN_DIR [OUT.json]");
            System.exit(2);
        }
        int canvases = Integer.getInteger("quality.canvases", 1000);
        long items = Long.getLong("quality.items", Long.MAX_VALUE);
        int threads = Integer.getInteger("quality.threads", 2);
        Long step = Long.getLong("quality.step");
        Configuration hadoop = new Configuration();
        try (TrainedClip clip = TrainedClip.load(new RunCheckpoint(args[0], step), hadoop, threads);
                CaptionData data = clip.openData()) {
            System.out.printf("CLIP step %d (%s), %s, on %d threads%n", clip.step(), args[0], data.describe(), threads);
            long t0 = System.nanoTime();
            ClipRetrieval q = ClipRetrieval.measure(clip, data, items, canvases);
            System.out.printf("QUALITY zero-shot accuracy %.2f%% on %d held-out items (\"a photo of a {class}\")%n",
                    100 * q.zeroShot(), q.items());
            System.out.printf("QUALITY zero-shot accuracy %.2f%% with the prompt ensemble %s%n",
                    100 * q.zeroShotEnsemble(), ClipEvaluation.TRAINING_TEMPLATES);
            System.out.printf("QUALITY held-out compositions (%d canvases): caption->image recall@1 %.1f%%, @5 %.1f%%; "
                    + "image->caption recall@1 %.1f%%, @5 %.1f%%%n", q.canvases(), 100 * q.captionToImageR1(),
                    100 * q.captionToImageR5(), 100 * q.imageToCaptionR1(), 100 * q.imageToCaptionR5());
            System.out.printf("QUALITY swap accuracy %.1f%% of %d pair canvases (a bag of words: at most 50%%)%n",
                    100 * q.swapAccuracy(), q.swapPairs());
            System.out.printf("QUALITY measured in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            if (args.length > 1) {
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("clip_run", args[0]);
                out.put("clip_step", clip.step());
                out.putAll(q.record());
                new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(new File(args[1]), out);
            }
        }
    }
}
