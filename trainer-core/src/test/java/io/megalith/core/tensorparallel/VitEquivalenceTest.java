package io.megalith.core.tensorparallel;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.vit.SyntheticImages;
import io.megalith.core.family.vit.VitRun;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.ParallelVit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.parallelize.VitPlan;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.train.SegmentTrainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The ViT (dropout 0.1) trains the same at TP=2 and at DP=2 with ZeRO as on one rank, ranks over real Netty loopback
 * sockets: the losses of 5 AdamW steps (2 micro-batches of 4 images each) within 1e-5 relative, and the gradients of
 * steps 1 and 5 (slices gathered, PARTIAL replicas summed) within 1e-5 of their largest element, for the patch
 * embedding, [CLS], positions, split attention and feed-forward, norms and the head.
 */
class VitEquivalenceTest {
    static final int STEPS = 5;
    static final List<String> CHECKED = List.of("patch_embed.weight", "patch_embed.bias", "layers.0.ln1.weight",
            "layers.0.attn.qkv.weight", "layers.0.attn.proj.weight", "layers.1.mlp.fc.weight", "layers.1.mlp.proj.bias",
            "ln_f.weight", "head.weight", "head.bias");

    record Result(List<Double> losses, List<Map<String, float[]>> grads, long localParameters) {}

    /** The families' test config (the GPT's keys: only train, parallel and zero matter here). */
    static MegalithConfig config(int dp, int tp, int zero) {
        return ConfigLoader.fromYaml(ConfigLoader.toYaml(FamiliesTensorParallelEquivalenceTest.config(dp, tp)),
                List.of("train.lr=1.0e-2", "train.min_lr=1.0e-3", "train.warmup_steps=1", "zero.stage=" + zero),
                "vit equivalence test");
    }

    static VitConfig shape(VitConfig.Pool pool, VitConfig.Positions pos) {
        return new VitConfig(8, 8, 2, 2, 3, 2, 4, 32, 0.1, true, pool, pos); // 16 patches of 2x2x2 pixels
    }

    static Result train(VitConfig shape, MegalithConfig cfg, Communicator dp, Communicator tp) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        SyntheticImages images = new SyntheticImages(2, 8, 3, 0, 17);
        ParallelVit model = VitPlan.apply(new Vit(shape), Placement.tensorParallel(tp));
        List<String> checked = new ArrayList<>(CHECKED);
        checked.add(shape.pool() == VitConfig.Pool.CLS ? "cls_token" : "layers.1.ln2.bias");
        if (shape.positions() == VitConfig.Positions.LEARNED) {
            checked.add("pos_embed");
        }
        try (NDManager manager = Torch.newManager();
                ParameterStore store = new ParameterStore(model.model(), manager, cfg.seed());
                SegmentTrainer trainer = new SegmentTrainer(cfg, store, model.segments(null, null, 1f),
                        (step, first, count) -> VitRun.part(model, images.train(step, first, count)), manager, dp,
                        tp)) {
            List<Double> losses = new ArrayList<>();
            List<Map<String, float[]>> grads = new ArrayList<>();
            for (int s = 0; s < STEPS; s++) {
                losses.add(trainer.step(s).loss());
                if (s == 0 || s == STEPS - 1) {
                    Map<String, HostTensor> full = trainer.fullGradients();
                    Map<String, float[]> g = new LinkedHashMap<>();
                    for (String name : checked) {
                        assertThat(full).as("gradient of %s", name).containsKey(name);
                        g.put(name, full.get(name).toFloats());
                    }
                    grads.add(g);
                }
            }
            return new Result(losses, grads, store.numel());
        }
    }

    static void assertSame(Result one, Result other, String layout) {
        for (int s = 0; s < STEPS; s++) {
            assertThat(other.losses().get(s)).as("%s step %d loss", layout, s + 1)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
        for (int k = 0; k < one.grads().size(); k++) {
            String step = layout + " step " + (k == 0 ? 1 : STEPS);
            Map<String, float[]> got = other.grads().get(k);
            one.grads().get(k).forEach((name, want) -> Tolerances.assertCloseToLargest(want, got.get(name),
                    step + " gradient of " + name));
        }
    }

    static Result oneRank(VitConfig shape) {
        return train(shape, config(1, 1, 0), new SingleRankCommunicator(), new SingleRankCommunicator());
    }

    @Test
    void tensorParallelTwoReproducesOneRank() throws Exception {
        for (VitConfig shape : List.of(shape(VitConfig.Pool.CLS, VitConfig.Positions.LEARNED),
                shape(VitConfig.Pool.MEAN, VitConfig.Positions.SINCOS))) {
            Result one = oneRank(shape);
            one.grads().forEach(g -> g.forEach((name, v) -> assertThat(v).as("%s learns", name)
                    .isNotEqualTo(new float[v.length])));
            List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1), (ParallelContext ctx) ->
                    train(shape, config(1, 2, 0), ctx.dataParallel(), ctx.tensorParallel()));
            for (Result r : tp2) {
                assertSame(one, r, "tp=2 " + shape.pool() + " " + shape.positions());
                // each rank holds its heads and hidden units (embedding, norms and head are replicated)
                assertThat((double) r.localParameters()).isLessThan(one.localParameters() * 0.7);
            }
        }
    }

    @Test
    void dataParallelTwoWithZeroOneReproducesOneRank() throws Exception {
        dataParallelTwo(1);
    }

    /** SegmentTrainer runs ZeRO 0 and 1; stages 2 and 3 come when it merges into the unified Trainer. */
    @Disabled("zero.stage 2/3: enable when SegmentTrainer is folded into train/Trainer")
    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void dataParallelTwoWithZeroTwoAndThreeReproducesOneRank(int zero) throws Exception {
        dataParallelTwo(zero);
    }

    private static void dataParallelTwo(int zero) throws Exception {
        VitConfig shape = shape(VitConfig.Pool.CLS, VitConfig.Positions.LEARNED);
        Result one = oneRank(shape);
        List<Result> dp2 = LoopbackRanks.run(DeviceMesh.of(2, 1, 1), (ParallelContext ctx) ->
                train(shape, config(2, 1, zero), ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : dp2) {
            assertSame(one, r, "dp=2 zero " + zero);
        }
    }
}
