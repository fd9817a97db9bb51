package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.data.images.ImageDatasets;
import io.megalith.core.family.vit.VitRun;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.ParallelVit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.parallelize.VitPlan;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.comm.RankGroups;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;

/**
 * One-rank AdamW steps of a ViT on 28x28x1 images at batch 128 (the builtin shapes set), e.g.
 * {@code java -cp ... io.megalith.bench.VitStepTime "4 6 128 4 mean sincos,7 6 192 6"} (patch, layers, width,
 * heads[, pool, pos_emb] per shape; -Dvit.threads=2, -Dvit.steps=12). Prints the parameter count (10 classes) and
 * the median ms/step after 2 warm-up steps.
 */
public final class VitStepTime {
    private VitStepTime() {}

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("vit.threads", 2);
        int steps = Integer.getInteger("vit.steps", 12);
        Torch.load(threads);
        Torch.enterThread();
        JniUtils.setNumThreads(threads);
        MegalithConfig cfg = ConfigLoader.fromYaml("run: {dir: unused}", List.of("train.batch_size=128",
                "train.warmup_steps=0", "train.lr=1.0e-3", "runtime.threads=" + threads, "data.task=images",
                "data.builtin=shapes"), "vit bench");
        try (ImageData images = ImageDatasets.open(cfg, new Configuration(), null)) {
        for (String spec : (args.length > 0 ? args[0] : "4 6 128 4 mean sincos").split(",")) {
            String[] words = spec.trim().split(" +");
            int[] s = Arrays.stream(words).limit(4).mapToInt(Integer::parseInt).toArray();
            VitConfig.Pool pool = words.length > 4 ? VitConfig.Pool.valueOf(words[4].toUpperCase(Locale.ROOT))
                    : VitConfig.Pool.CLS;
            VitConfig.Positions pos = words.length > 5
                    ? VitConfig.Positions.valueOf(words[5].toUpperCase(Locale.ROOT)) : VitConfig.Positions.LEARNED;
            VitConfig shape = new VitConfig(28, 28, 1, s[0], 10, s[1], s[3], s[2], 0.0, true, pool, pos);
            ParallelVit model = VitPlan.apply(new Vit(shape), Placement.SINGLE);
            long params = model.model().parameters().stream().mapToLong(p -> p.numel()).sum();
            StepTimes times;
            try (NDManager manager = Torch.newManager();
                    ParameterStore store = new ParameterStore(model.model(), manager, 1);
                    Trainer trainer = new Trainer(cfg, PartSource.of(model.segments(null, null, 1f),
                            (step, first, count) -> VitRun.part(model, images.train(step, first, count))), store,
                            manager, RankGroups.single())) {
                times = StepTimes.of(trainer, steps);
            }
            System.out.printf("VITBENCH patch %d, %d layers x %d wide x %d heads, %s %s, %d tokens: %,d parameters, "
                    + "median %.0f ms/step at batch 128 on %d threads (min %.0f, max %.0f)%n", s[0], s[1], s[2], s[3],
                    pool, pos, shape.tokens(), params, times.median(), threads, times.min(), times.max());
        }
        }
    }
}
