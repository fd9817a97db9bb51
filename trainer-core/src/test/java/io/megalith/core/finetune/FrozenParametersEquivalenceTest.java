package io.megalith.core.finetune;

import static io.megalith.core.testing.Tolerances.assertCloseToLargest;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.CountingCommunicator;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.SyntheticText;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * Frozen parameters (fine-tuning) under every parallelism of the GPT {@link Trainer} are the one-rank computation with
 * the same freezing: DP=2 at ZeRO 0-3, TP=2, PP=2 (also with a first stage that has nothing to train) and a LoRA model
 * at DP=2 give the one-rank losses over 5 steps (relative 1e-5), step-1 gradients and final parameters, frozen
 * tensors bit-identical to their initial values; the data-parallel gradient traffic covers the trainable elements only.
 */
class FrozenParametersEquivalenceTest {
    static final int STEPS = 5;
    static final List<String> FIRST_BLOCK_AND_EMBEDDING = List.of("wte", "blocks.0.");
    static final List<String> FIRST_STAGE = List.of("wte", "wpe", "blocks.0.", "blocks.1."); // pp=2: all of stage 0
    static final Map<String, Result> ONE_RANK = new HashMap<>();

    record Result(List<Double> losses, Map<String, HostTensor> firstGradients, Map<String, HostTensor> finalWeights,
            List<String> frozen, long trainable, long allReduceBytes, long reduceScatterBytes) {}

    static MegalithConfig config(String... overrides) {
        return ConfigLoader.fromYaml("""
                seed: 6
                model: {n_layer: 4, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.1, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 5, batch_size: 4, grad_accum: 2, lr: 3.0e-3, warmup_steps: 1, min_lr: 3.0e-4}
                runtime: {threads: 1}
                parallel: {grad_bucket_mib: 0.01}
                """, List.of(overrides), "frozen equivalence test");
    }

    static MegalithConfig.Finetune freezing(List<String> prefixes) {
        return new MegalithConfig.Finetune(new MegalithConfig.Lora(0, 16, List.of()), prefixes);
    }

    static final MegalithConfig.Finetune LORA = new MegalithConfig.Finetune(
            new MegalithConfig.Lora(4, 8, List.of("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")), List.of());

    static String text() {
        return SyntheticText.words(21, 6000, "in", "the", "beginning", "was", "word", "and", "light", "dark", "water", "land", "sky");
    }

    static Result train(MegalithConfig cfg, RankGroups groups, MegalithConfig.Finetune finetune) {
        TextData data = SyntheticText.rankData(text(), cfg);
        Tokenizer tok = data.tokenizer();
        CountingCommunicator dp = new CountingCommunicator(groups.dataParallel());
        RankGroups counted = new RankGroups(dp, groups.tensorParallel(), groups.pipeline(), groups.embedding());
        try (NDManager manager = Torch.newManager()) {
            Communicator tp = groups.tensorParallel();
            ParallelGpt parallel = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize()),
                    finetune.loraConfig()), Placement.of(counted, false));
            Gpt gpt = parallel.model();
            long trainable = Freezing.apply(gpt.parameters(), finetune);
            ModelParameters params = GptParts.createParameters(cfg, parallel, manager, counted);
            parallel.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            Map<String, HostTensor> grads = Map.of();
            try (Trainer trainer = new Trainer(cfg, new GptParts(parallel, data), params, manager, counted)) {
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                    if (s == 0 && cfg.zero().stage() < 2) {
                        grads = trainer.fullGradients();
                    }
                }
                List<String> frozen = gpt.parameters().stream().filter(Parameter::frozen).map(Parameter::name).toList();
                return new Result(losses, grads, trainer.fullParameters(), frozen, trainable, dp.allReduceBytes.get(),
                        dp.reduceScatterBytes.get());
            }
        }
    }

    /** The one-rank run of this freezing (and model), computed once. */
    static Result oneRank(MegalithConfig.Finetune finetune) {
        return ONE_RANK.computeIfAbsent(finetune.toString(), k -> {
            Result one = train(config(), RankGroups.single(), finetune);
            assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
            return one;
        });
    }

    static List<Result> run(int dp, int tp, int pp, MegalithConfig.Finetune finetune, String... overrides)
            throws Exception {
        List<String> all = new ArrayList<>(List.of("parallel.dp=" + dp, "parallel.tp=" + tp, "parallel.pp=" + pp));
        all.addAll(List.of(overrides));
        MegalithConfig cfg = config(all.toArray(String[]::new));
        return LoopbackRanks.run(DeviceMesh.of(dp, tp, pp), ctx -> train(cfg, ctx.rankGroups(), finetune));
    }

    static void assertLikeOneRank(List<Result> ranks, MegalithConfig.Finetune finetune, String layout) {
        Result one = oneRank(finetune);
        assertThat(one.frozen()).isNotEmpty();
        boolean replicated = !layout.contains("zero 2") && !layout.contains("zero 3"); // ZeRO 0/1: gradients kept
        for (Result r : ranks) {
            assertThat(r.firstGradients().isEmpty()).as("%s: step-1 gradients to compare", layout).isEqualTo(!replicated);
            for (int s = 0; s < STEPS; s++) {
                assertThat(r.losses().get(s)).as("%s step %d loss", layout, s + 1)
                        .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
            }
            for (Map.Entry<String, HostTensor> e : r.firstGradients().entrySet()) {
                assertThat(one.frozen()).as("%s: a gradient of frozen %s", layout, e.getKey()).doesNotContain(e.getKey());
                assertCloseToLargest(one.firstGradients().get(e.getKey()).toFloats(), e.getValue().toFloats(),
                        layout + " step-1 gradient of " + e.getKey());
            }
            assertThat(r.finalWeights().keySet()).as(layout).containsExactlyInAnyOrderElementsOf(
                    one.finalWeights().keySet());
            for (Map.Entry<String, HostTensor> e : one.finalWeights().entrySet()) {
                HostTensor got = r.finalWeights().get(e.getKey());
                if (one.frozen().contains(e.getKey())) { // never written: the initial values, bit for bit
                    assertThat(got.contentEquals(e.getValue())).as("%s frozen %s", layout, e.getKey()).isTrue();
                    continue;
                }
                float[] want = e.getValue().toFloats();
                float[] have = got.toFloats();
                for (int i = 0; i < want.length; i++) {
                    assertThat(Math.abs(have[i] - want[i])).as("%s final %s[%d]", layout, e.getKey(), i)
                            .isLessThanOrEqualTo(1e-5f * Math.max(1f, Math.abs(want[i])));
                }
            }
        }
    }

    @Test
    void dataParallelAtEveryZeroStageReproducesOneRank() throws Exception {
        MegalithConfig.Finetune f = freezing(FIRST_BLOCK_AND_EMBEDDING);
        for (int zero = 0; zero <= 3; zero++) {
            List<Result> ranks = run(2, 1, 1, f, "zero.stage=" + zero);
            assertLikeOneRank(ranks, f, "dp=2 zero " + zero);
            if (zero == 0) { // per step: the token counts (16 bytes), then every trainable gradient once
                assertThat(ranks.get(0).allReduceBytes()).as("dp all-reduce bytes")
                        .isEqualTo(STEPS * (16 + 4 * ranks.get(0).trainable()));
            }
            if (zero == 3) { // every micro-batch reduce-scatters every trainable gradient once
                assertThat(ranks.get(0).reduceScatterBytes()).as("dp reduce-scatter bytes")
                        .isEqualTo(STEPS * 2L * 4 * ranks.get(0).trainable());
            }
        }
    }

    @Test
    void tensorParallelReproducesOneRank() throws Exception {
        MegalithConfig.Finetune f = freezing(FIRST_BLOCK_AND_EMBEDDING);
        assertLikeOneRank(run(1, 2, 1, f), f, "tp=2");
    }

    @Test
    void pipelineReproducesOneRankAlsoWithAStageThatTrainsNothing() throws Exception {
        MegalithConfig.Finetune f = freezing(FIRST_BLOCK_AND_EMBEDDING);
        assertLikeOneRank(run(1, 1, 2, f, "parallel.schedule=1f1b"), f, "pp=2");
        MegalithConfig.Finetune stage0 = freezing(FIRST_STAGE);
        List<Result> ranks = run(1, 1, 2, stage0, "parallel.schedule=1f1b");
        assertThat(ranks.get(0).trainable()).as("stage 0 trains nothing").isZero();
        assertLikeOneRank(ranks, stage0, "pp=2, stage 0 frozen");
    }

    @Test
    void loraAtDataParallelReproducesOneRank() throws Exception {
        assertLikeOneRank(run(2, 1, 1, LORA, "zero.stage=1"), LORA, "lora dp=2 zero 1");
    }

    @Test
    void freezingShrinksTheGradientTraffic() throws Exception {
        Result plain = run(2, 1, 1, freezing(List.of())).get(0);
        Result frozen = run(2, 1, 1, freezing(FIRST_BLOCK_AND_EMBEDDING)).get(0);
        Result lora = run(2, 1, 1, LORA).get(0);
        assertThat(frozen.trainable()).isLessThan(plain.trainable());
        assertThat(frozen.allReduceBytes()).isEqualTo(STEPS * (16 + 4 * frozen.trainable()))
                .isLessThan(plain.allReduceBytes());
        assertThat(lora.allReduceBytes()).isEqualTo(STEPS * (16 + 4 * lora.trainable()))
                .isLessThan(plain.allReduceBytes() / 4);
    }
}
