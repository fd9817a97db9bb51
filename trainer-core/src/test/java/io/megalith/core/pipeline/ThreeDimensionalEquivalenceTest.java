package io.megalith.core.pipeline;

import static io.megalith.core.testing.Tolerances.assertCloseToLargest;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.SyntheticText;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Pipeline parallelism, alone and composed with tensor and data parallelism (and ZeRO-1), is the one-rank
 * computation: over real Netty sockets, every layout gives the one-rank losses over 6 steps (relative
 * 1e-5), the one-rank gradients of named parameters after step 1, and the one-rank final parameters.
 */
class ThreeDimensionalEquivalenceTest {
    static final int STEPS = 6;
    static final List<String> CHECKED = List.of("wte.weight", "wpe.weight", "blocks.0.attn.qkv.weight",
            "blocks.1.mlp.fc.weight", "blocks.2.attn.proj.weight", "blocks.3.mlp.proj.weight", "blocks.3.ln1.weight",
            "ln_f.weight");
    static Result one;

    record Result(List<Double> losses, Map<String, HostTensor> firstGradients, Map<String, HostTensor> finalWeights,
            double bubble) {}

    static MegalithConfig config(String... overrides) {
        return ConfigLoader.fromYaml("""
                seed: 4
                model: {n_layer: 4, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.1, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 6, batch_size: 4, grad_accum: 4, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                """, List.of(overrides), "3d test");
    }

    static String text() {
        return SyntheticText.words(12, 6000, "nel", "mezzo", "del", "cammin", "di", "nostra", "vita", "mi", "ritrovai", "per", "una", "selva");
    }

    static Result train(MegalithConfig cfg, RankGroups groups) {
        TextData data = SyntheticText.rankData(text(), cfg);
        Tokenizer tok = data.tokenizer();
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize())),
                    Placement.of(groups, false));
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager, groups.dataParallel());
            gpt.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            Map<String, HostTensor> grads = null;
            double bubble = 0;
            try (Trainer trainer = new Trainer(cfg, new GptParts(gpt, data), params, manager, groups)) {
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                    if (s == 0) {
                        grads = trainer.fullGradients();
                    }
                    bubble += trainer.bubble() / STEPS;
                }
                return new Result(losses, grads, trainer.fullParameters(), bubble);
            }
        }
    }

    static List<Result> run(int dp, int tp, int pp, String... overrides) throws Exception {
        List<String> all = new ArrayList<>(List.of("parallel.dp=" + dp, "parallel.tp=" + tp, "parallel.pp=" + pp));
        all.addAll(List.of(overrides));
        MegalithConfig cfg = config(all.toArray(String[]::new));
        return LoopbackRanks.run(DeviceMesh.of(dp, tp, pp), ctx -> train(cfg, ctx.rankGroups()));
    }

    @BeforeAll
    static void oneRank() {
        one = train(config(), RankGroups.single());
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
    }

    static void assertLikeOneRank(List<Result> ranks, String layout) {
        for (Result r : ranks) {
            for (int s = 0; s < STEPS; s++) {
                assertThat(r.losses().get(s)).as("%s step %d loss", layout, s + 1)
                        .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
            }
            for (String name : CHECKED) {
                assertCloseToLargest(one.firstGradients().get(name).toFloats(), r.firstGradients().get(name).toFloats(),
                        layout + " step-1 gradient of " + name);
            }
            // after 6 AdamW steps: 1e-5 absolute (Adam's normalised steps amplify rounding on near-zero gradients)
            for (Map.Entry<String, HostTensor> e : one.finalWeights().entrySet()) {
                float[] want = e.getValue().toFloats();
                float[] got = r.finalWeights().get(e.getKey()).toFloats();
                for (int i = 0; i < want.length; i++) {
                    assertThat(Math.abs(got[i] - want[i])).as("%s final %s[%d]", layout, e.getKey(), i)
                            .isLessThanOrEqualTo(1e-5f * Math.max(1f, Math.abs(want[i])));
                }
            }
        }
    }

    @Test
    void pipelineOfTwoStagesWith1F1B() throws Exception {
        List<Result> ranks = run(1, 1, 2, "parallel.schedule=1f1b");
        assertLikeOneRank(ranks, "pp=2 1f1b");
        // 2 stages, 4 micro-batches: theory (p-1)/(m+p-1) = 0.2 of the step idle; a stage must wait for something
        assertThat(ranks.get(1).bubble()).as("last stage's measured bubble").isGreaterThan(0.01).isLessThan(0.9);
    }

    @Test
    void pipelineOfTwoStagesWithGPipe() throws Exception {
        assertLikeOneRank(run(1, 1, 2, "parallel.schedule=gpipe"), "pp=2 gpipe");
    }

    @Test
    void tensorTimesPipeline() throws Exception {
        assertLikeOneRank(run(1, 2, 2), "tp=2 x pp=2");
    }

    @Test
    void dataTimesPipelineWithZero1() throws Exception {
        assertLikeOneRank(run(2, 1, 2, "zero.stage=1"), "dp=2 x pp=2 zero-1");
    }
}
