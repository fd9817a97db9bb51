package io.megalith.core.zero;

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
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.InJvmRanks;
import io.megalith.core.testing.SyntheticText;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * Data parallelism is the one-rank computation: DP=2 and DP=4 ranks, each training on its share of
 * every micro-batch and summing gradients over the group, give the losses, gradient norms and final
 * weights of one rank with the same global batch (fp32, relative 1e-5), dropout included.
 */
class DataParallelEquivalenceTest {
    static final int STEPS = 10;

    record Result(List<Double> losses, List<Double> norms, Map<String, HostTensor> weights, long[] memory,
            Map<String, HostTensor> optimizerState) {}

    static MegalithConfig config(int dp, int zero) {
        return ConfigLoader.fromYaml("""
                seed: 5
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, dropout: 0.1}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 10, batch_size: 8, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                parallel: {grad_bucket_mib: 0.01}
                """, List.of("parallel.dp=" + dp, "zero.stage=" + zero), "dp test");
    }

    static String text() {
        return SyntheticText.words(3, 8000, "alpha", "beta", "gamma", "delta", "the", "and", "of", "sea", "sky");
    }

    /** Trains one rank; {@code ctx} gives its data-parallel group. */
    static Result train(MegalithConfig cfg, ParallelContext ctx) {
        TextData data = SyntheticText.rankData(text(), cfg);
        Tokenizer tok = data.tokenizer();
        try (NDManager manager = Torch.newManager()) {
            Gpt gpt = new Gpt(GptConfig.from(cfg.model(), tok.vocabSize()));
            // laid out in backward order (many small buckets, reduced while backward runs), partitioned from stage 2
            ModelParameters store = GptParts.createParameters(cfg, gpt, manager, ctx.dataParallel());
            gpt.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            List<Double> norms = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(GptPlan.apply(gpt, Placement.SINGLE), data), store, manager, RankGroups.dataParallelOnly(ctx.dataParallel()))) {
                for (int s = 0; s < STEPS; s++) {
                    Trainer.StepStats st = trainer.step(s);
                    losses.add(st.loss());
                    norms.add(st.gradNorm());
                }
                long[] memory = trainer.memoryBytes();
                return new Result(losses, norms, store.toHost(), memory, trainer.gatherOptimizerState());
            }
        }
    }

    static List<Result> trainDataParallel(int dp, int zero) throws Exception {
        MegalithConfig cfg = config(dp, zero);
        return InJvmRanks.run(DeviceMesh.of(dp, 1, 1), ctx -> train(cfg, ctx));
    }

    @Test
    void dataParallelRanksReproduceOneRank() throws Exception {
        check(0);
    }

    @Test
    void zeroStage1ReproducesOneRankWithAQuarterOfTheOptimizerState() throws Exception {
        check(1);
    }

    @Test
    void zeroStage2ReproducesOneRankWithPartitionedGradients() throws Exception {
        check(2);
    }

    @Test
    void zeroStage3ReproducesOneRankWithPartitionedParameters() throws Exception {
        check(3);
    }

    static void check(int zero) throws Exception {
        Result one = train(config(1, 0), ParallelContext.single());
        for (int dp : new int[] {2, 4}) {
            List<Result> ranks = trainDataParallel(dp, zero);
            for (Result r : ranks) {
                for (int s = 0; s < STEPS; s++) {
                    assertThat(r.losses().get(s)).as("dp=%d step %d loss", dp, s + 1)
                            .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
                    assertThat(r.norms().get(s)).as("dp=%d step %d grad norm", dp, s + 1)
                            .isCloseTo(one.norms().get(s), Percentage.withPercentage(1e-3));
                }
                for (Map.Entry<String, HostTensor> e : one.weights().entrySet()) {
                    float[] want = e.getValue().toFloats();
                    float[] got = r.weights().get(e.getKey()).toFloats();
                    for (int i = 0; i < want.length; i++) {
                        assertThat(Math.abs(got[i] - want[i])).as("dp=%d %s[%d]", dp, e.getKey(), i)
                                .isLessThanOrEqualTo(1e-5f * Math.max(1f, Math.abs(want[i])));
                    }
                }
            }
            // every data-parallel rank holds exactly the same model
            for (Result r : ranks) {
                for (Map.Entry<String, HostTensor> e : ranks.get(0).weights().entrySet()) {
                    assertThat(r.weights().get(e.getKey()).contentEquals(e.getValue())).as("dp=%d replicas agree on %s",
                            dp, e.getKey()).isTrue();
                }
            }
            // the gathered optimizer state is the one-rank state, whatever the partitioning
            for (Map.Entry<String, HostTensor> e : one.optimizerState().entrySet()) {
                float[] want = e.getValue().toFloats();
                float[] got = ranks.get(dp - 1).optimizerState().get(e.getKey()).toFloats();
                for (int i = 0; i < want.length; i++) {
                    assertThat(Math.abs(got[i] - want[i])).as("zero %d dp=%d %s[%d]", zero, dp, e.getKey(), i)
                            .isLessThanOrEqualTo(1e-5f * Math.max(1e-3f, Math.abs(want[i])) + 1e-9f);
                }
            }
            long full = one.memory()[2];
            long held = ranks.get(0).memory()[2];
            if (zero == 0) {
                assertThat(held).isEqualTo(full);
            } else {
                assertThat((double) held).as("optimizer bytes of a rank, zero %d dp %d", zero, dp)
                        .isCloseTo((double) full / dp, Offset.offset(full * 0.05));
            }
            long paramsFull = one.memory()[0];
            if (zero >= 2) {
                // gradients: libtorch's tensors are freed as each group is reduced; the rank keeps its pieces
                assertThat((double) ranks.get(0).memory()[1]).as("gradient bytes of a rank, zero %d dp %d", zero, dp)
                        .isCloseTo((double) paramsFull / dp, Offset.offset(paramsFull * 0.05));
            }
            if (zero == 3) {
                assertThat((double) ranks.get(0).memory()[0]).as("parameter bytes of a rank outside a layer, dp %d", dp)
                        .isCloseTo((double) paramsFull / dp, Offset.offset(paramsFull * 0.05));
            } else {
                assertThat(ranks.get(0).memory()[0]).as("replicated parameters").isGreaterThanOrEqualTo(paramsFull);
            }
        }
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
    }
}
