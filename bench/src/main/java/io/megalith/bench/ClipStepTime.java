package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.Composition;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.family.clip.ClipPart;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.model.clip.ClipConfig;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.ClipPlan;
import io.megalith.core.parallelize.ParallelClip;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One-rank AdamW steps of CLIP on Fashion-MNIST's wide canvases (28 x 56, one channel; random pixels and captions
 * "a {class} to the left of a {class}": the time does not depend on the content), e.g.
 * {@code java -cp ... io.megalith.bench.ClipStepTime "4 4 128 4 48,4 6 128 4 48"} (patch, layers, width, heads,
 * text_len per shape; both towers alike, mean pooling, sin-cos positions, causal text; -Dclip.threads=2,
 * -Dclip.steps=8, -Dclip.batch=128). Prints the parameter count and the median ms/step after 2 warm-up steps.
 */
public final class ClipStepTime {
    private static final List<String> CLASSES = List.of("t-shirt", "trouser", "pullover", "dress", "coat", "sandal",
            "shirt", "sneaker", "bag", "ankle boot");

    private ClipStepTime() {}

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("clip.threads", 2);
        int steps = Integer.getInteger("clip.steps", 8);
        int batch = Integer.getInteger("clip.batch", 128);
        Torch.load(threads);
        Torch.enterThread();
        JniUtils.setNumThreads(threads);
        MegalithConfig cfg = ConfigLoader.fromYaml("run: {dir: unused}", List.of("train.batch_size=" + batch,
                "train.warmup_steps=0", "train.lr=1.0e-3", "runtime.threads=" + threads), "clip bench");
        CaptionTokens tokens = new CaptionTokens(CharTokenizer.fit("abcdefghijklmnopqrstuvwxyz -"), 48);
        for (String spec : (args.length > 0 ? args[0] : "4 4 128 4 48").split(",")) {
            int[] s = Arrays.stream(spec.trim().split(" +")).mapToInt(Integer::parseInt).toArray();
            CaptionTokens t = new CaptionTokens(tokens.tokenizer(), s[4]);
            VitConfig image = new VitConfig(28, 56, 1, s[0], 0, s[1], s[3], s[2], 0.0, true, VitConfig.Pool.MEAN,
                    VitConfig.Positions.SINCOS);
            TextEncoderConfig text = new TextEncoderConfig(t.vocabSize(), t.padId(), s[4], s[1], s[3], s[2], 0.0,
                    true, TextEncoderConfig.Mask.CAUSAL);
            ParallelClip model = ClipPlan.single(new Clip(new ClipConfig(image, text, s[2])));
            long params = model.model().parameters().stream().mapToLong(p -> p.numel()).sum();
            List<Segment> plan = model.segments(null, null, 0, null, 1f).all();
            StepTimes times;
            try (NDManager manager = Torch.newManager();
                    ModelParameters store = Trainer.createParameters(cfg, plan, manager, RankGroups.single());
                    Trainer trainer = new Trainer(cfg, PartSource.of(plan,
                            (step, first, count) -> ClipPart.of(model, batch(step, first, count), t)), store, manager,
                            RankGroups.single())) {
                times = StepTimes.of(trainer, steps);
            }
            System.out.printf("CLIPBENCH patch %d, 2 towers of %d layers x %d wide x %d heads, %d image tokens, %d text "
                    + "tokens: %,d parameters, median %.0f ms/step at batch %d on %d threads (min %.0f, max %.0f)%n",
                    s[0], s[1], s[2], s[3], image.tokens(), s[4], params, times.median(), batch, threads, times.min(),
                    times.max());
        }
    }

    private static CaptionBatch batch(long step, int first, int count) {
        float[] pixels = new float[count * 28 * 56];
        List<String> captions = new ArrayList<>();
        List<Composition> what = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long key = CounterRng.key(1, step, first + i);
            for (int j = 0; j < 28 * 56; j++) {
                pixels[i * 28 * 56 + j] = (float) CounterRng.normal(key, j);
            }
            int a = (int) CounterRng.below(key, -1, 10);
            int b = (int) CounterRng.below(key, -2, 10);
            captions.add("a " + CLASSES.get(a) + " to the left of a " + CLASSES.get(b));
            what.add(new Composition(a, b, Composition.Relation.LEFT_OF));
        }
        return new CaptionBatch(new ImageBatch(pixels, new int[count], count, 1, 28, 56), captions, what);
    }
}
