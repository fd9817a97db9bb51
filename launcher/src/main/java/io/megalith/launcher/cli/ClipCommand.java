package io.megalith.launcher.cli;

import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.family.clip.ClipEvaluation;
import io.megalith.core.inference.TrainedClip;
import io.megalith.core.model.clip.ClipEmbeddings;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code megalith clip}: a trained clip run (its latest complete checkpoint) classifies images zero-shot from a prompt
 * template, retrieves the top-k images for a caption and the top-k captions for an image. Images are PNG files of the
 * run's canvas size ({@code --image}), or the run data's held-out items and canvases ({@code --held-out N}).
 */
@Command(name = "clip", mixinStandardHelpOptions = true,
        description = "Zero-shot classification and image-text retrieval with a trained clip run.")
final class ClipCommand implements Callable<Integer> {
    @Option(names = {"-r", "--run"}, required = true, paramLabel = "DIR", description = "run.dir of a clip run")
    String runDir;

    @Option(names = {"-i", "--image"}, paramLabel = "FILE", description = "a PNG of the run's canvas size: classified "
            + "zero-shot, and a candidate for --caption. Repeatable")
    List<Path> images = new ArrayList<>();

    @Option(names = "--held-out", paramLabel = "N", description = "without --image: the run data's first N held-out "
            + "single items (zero-shot accuracy) and N held-out canvases (the pool --caption searches)")
    Integer heldOut;

    @Option(names = "--template", paramLabel = "TEXT", description = "zero-shot prompt, {class} the class name (default: "
            + "\"" + ClipEvaluation.PROMPT + "\"). Repeatable: several are CLIP's prompt ensemble (each class's mean "
            + "embedding over them)")
    List<String> templates = new ArrayList<>();

    @Option(names = {"-c", "--caption"}, paramLabel = "TEXT", description = "print the top-k images for this caption. "
            + "Repeatable")
    List<String> captions = new ArrayList<>();

    @Option(names = "--candidate", paramLabel = "TEXT", description = "a caption the top-k captions of each --image are "
            + "chosen from (default: the class prompts; with --held-out, also the held-out canvases' captions). "
            + "Repeatable")
    List<String> candidates = new ArrayList<>();

    @Option(names = {"-k", "--top-k"}, defaultValue = "5", paramLabel = "N", description = "how many to retrieve")
    int topK;

    @Mixin
    CheckpointOptions checkpoint;

    @Override
    public Integer call() throws IOException {
        if (images.isEmpty() && heldOut == null) {
            throw new IllegalArgumentException("megalith clip: give --image PNG files or --held-out N");
        }
        PrintStream out = System.out;
        Configuration hadoop = new Configuration();
        try (TrainedClip clip = TrainedClip.load(checkpoint.of(runDir), hadoop, checkpoint.threads)) {
            List<String> prompting = templates.isEmpty() ? List.of(ClipEvaluation.PROMPT) : templates;
            out.printf("megalith clip: %s step %d, %d classes, prompts %s%n", runDir, clip.step(),
                    clip.canvas().classNames().size(), prompting);
            List<String> classes = clip.canvas().classNames();
            float[][] prompts = clip.classEmbeddings(prompting);
            List<String> names = new ArrayList<>();
            float[][] pool;
            List<String> pick = new ArrayList<>(candidates);
            if (!images.isEmpty()) {
                float[] pixels = clip.readPngs(images);
                pool = clip.embedImages(pixels, images.size());
                for (int i = 0; i < images.size(); i++) {
                    int[] best = ClipEmbeddings.topK(pool[i], prompts, 1);
                    names.add(images.get(i).getFileName().toString());
                    out.printf(Locale.ROOT, "%s: %s (%.3f)%n", names.get(i), classes.get(best[0]),
                            ClipEmbeddings.similarity(pool[i], prompts[best[0]]));
                }
            } else {
                try (CaptionData data = clip.openData()) {
                    int n = (int) Math.min(heldOut, data.heldOutItemsSize());
                    ImageBatch items = data.heldOutItems(0, n);
                    int[] predicted = ClipEmbeddings.nearest(clip.embedImages(items.pixels(), n), prompts);
                    int hits = 0;
                    for (int i = 0; i < n; i++) {
                        hits += predicted[i] == items.labels()[i] ? 1 : 0;
                    }
                    out.printf(Locale.ROOT, "zero-shot accuracy %.2f%% on %d held-out items%n", 100.0 * hits / n, n);
                    CaptionBatch canvases = data.heldOut(0, (int) Math.min(heldOut, data.heldOutSize()));
                    pool = clip.embedImages(canvases.images().pixels(), canvases.rows());
                    for (int i = 0; i < canvases.rows(); i++) {
                        names.add("held-out " + i + " (\"" + canvases.captions().get(i) + "\")");
                    }
                    if (candidates.isEmpty()) {
                        canvases.captions().stream().distinct().forEach(pick::add);
                    }
                }
            }
            for (String caption : captions) {
                float[] query = clip.embedTexts(List.of(caption))[0];
                out.printf("caption \"%s\": top %d images%n", caption, Math.min(topK, pool.length));
                int[] best = ClipEmbeddings.topK(query, pool, topK);
                for (int r = 0; r < best.length; r++) {
                    out.printf(Locale.ROOT, "  %d. %s (%.3f)%n", r + 1, names.get(best[r]),
                            ClipEmbeddings.similarity(query, pool[best[r]]));
                }
            }
            if (!images.isEmpty()) {
                if (pick.isEmpty()) {
                    pick.addAll(clip.prompts(prompting.get(0)));
                }
                float[][] texts = clip.embedTexts(pick);
                for (int i = 0; i < images.size(); i++) {
                    out.printf("image %s: top %d captions%n", names.get(i), Math.min(topK, pick.size()));
                    int[] best = ClipEmbeddings.topK(pool[i], texts, topK);
                    for (int r = 0; r < best.length; r++) {
                        out.printf(Locale.ROOT, "  %d. \"%s\" (%.3f)%n", r + 1, pick.get(best[r]),
                                ClipEmbeddings.similarity(pool[i], texts[best[r]]));
                    }
                }
            }
        }
        return 0;
    }
}
