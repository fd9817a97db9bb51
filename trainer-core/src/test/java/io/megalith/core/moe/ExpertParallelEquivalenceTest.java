package io.megalith.core.moe;

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
import io.megalith.core.nn.Parameter;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.SyntheticText;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Expert parallelism is the one-rank MoE model: EP=2 (world 2 = dp 2, experts split in two) and EP=2 x DP=2 (world
 * 4: two expert-parallel groups, expert gradients summed over the expert-data-parallel pairs), ranks talking over
 * real Netty sockets on loopback, give the losses and gradient norms of one rank holding every expert and the
 * whole global batch over 5 steps (fp32, relative 1e-5), for top-1 and top-2, with capacity dropping and without;
 * and the final weights (every expert gathered from its rank) and the validation loss (evaluated on the gathered
 * one-rank model) agree too. Dropout is on, 4 experts over 2 MoE
 * layers, 2 micro-batches per step. ZeRO-1/2/3 compose (shared state partitioned over dp, expert state over edp),
 * as does activation checkpointing (the MoE segment's forward and its all-to-alls run again before its backward),
 * and experts that receive no token work.
 */
class ExpertParallelEquivalenceTest {
    static final int STEPS = 5;

    record Result(List<Double> losses, List<Double> norms, Map<String, HostTensor> weights, long localParameters,
            double dropped, long minExpertTokens, double valLoss) {}

    static MegalithConfig config(int dp, int ep, int k, double capacity, String... more) {
        return ConfigLoader.fromYaml("""
                seed: 5
                model: {n_layer: 2, n_head: 2, n_embd: 16, block_size: 16, dropout: 0.1,
                        moe: {every: 1, experts: 4, aux_loss_coef: 0.01, z_loss_coef: 0.001}}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 5, batch_size: 8, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                """, Stream.concat(Stream.of("parallel.dp=" + dp, "parallel.ep=" + ep,
                "model.moe.top_k=" + k, "model.moe.capacity_factor=" + capacity), Stream.of(more))
                .toList(), "ep test");
    }

    static String text() {
        return SyntheticText.words(3, 8000, "alpha", "beta", "gamma", "delta", "the", "and", "of", "sea", "sky");
    }

    static Result train(MegalithConfig cfg, RankGroups groups) {
        TextData data = SyntheticText.rankData(text(), cfg);
        Tokenizer tok = data.tokenizer();
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt parallel = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize())),
                    Placement.of(groups, false));
            Gpt gpt = parallel.model();
            ModelParameters params = GptParts.createParameters(cfg, parallel, manager, groups);
            parallel.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            List<Double> norms = new ArrayList<>();
            double dropped = 0;
            long minTokens = Long.MAX_VALUE;
            GptParts parts = new GptParts(parallel, data);
            try (Trainer trainer = new Trainer(cfg, parts, params, manager, groups)) {
                for (int s = 0; s < STEPS; s++) {
                    Trainer.StepStats st = trainer.step(s);
                    losses.add(st.loss());
                    norms.add(st.gradNorm());
                    dropped += trainer.moeStats().dropFraction();
                    minTokens = Math.min(minTokens, trainer.moeStats().minExpertTokens());
                }
                // evaluation gathers every expert into a one-rank model (a collective over the ep group)
                double val = parts.validationLoss(trainer, 2);
                return new Result(losses, norms, trainer.fullParameters(), params.parameters().stream()
                        .mapToLong(Parameter::numel).sum(), dropped, minTokens, val);
            }
        }
    }

    static void assertSame(Result one, Result other, String layout) {
        for (int s = 0; s < STEPS; s++) {
            assertThat(Math.abs(other.losses().get(s) - one.losses().get(s)))
                    .as("%s step %d loss %s vs %s", layout, s + 1, other.losses().get(s), one.losses().get(s))
                    .isLessThanOrEqualTo(1e-5 * Math.abs(one.losses().get(s)));
            assertThat(Math.abs(other.norms().get(s) - one.norms().get(s)))
                    .as("%s step %d grad norm", layout, s + 1)
                    .isLessThanOrEqualTo(1e-5 * Math.abs(one.norms().get(s)));
        }
        assertThat(Math.abs(other.valLoss() - one.valLoss())).as("%s validation loss", layout)
                .isLessThanOrEqualTo(1e-5 * one.valLoss());
        assertThat(other.weights().keySet()).isEqualTo(one.weights().keySet());
        for (Map.Entry<String, HostTensor> e : one.weights().entrySet()) {
            float[] want = e.getValue().toFloats();
            float[] got = other.weights().get(e.getKey()).toFloats();
            for (int i = 0; i < want.length; i++) {
                assertThat(Math.abs(got[i] - want[i])).as("%s %s[%d]", layout, e.getKey(), i)
                        .isLessThanOrEqualTo(1e-5f * Math.max(1f, Math.abs(want[i])));
            }
        }
        assertThat(other.dropped()).as("%s dropped fraction", layout).isCloseTo(one.dropped(),
                Offset.offset(1e-9));
    }

    @ParameterizedTest(name = "top-{0}, capacity factor {1}")
    @CsvSource({"1, 1.0", "1, 0", "2, 1.0", "2, 0"})
    void expertParallelRanksReproduceOneRankWithEveryExpert(int k, double capacity) throws Exception {
        Result one = train(config(1, 1, k, capacity), RankGroups.single());
        if (capacity > 0) {
            assertThat(one.dropped()).as("capacity 1.0 drops tokens").isPositive();
        } else {
            assertThat(one.dropped()).isZero();
        }
        List<Result> ep2 = LoopbackRanks.run(DeviceMesh.forWorld(2, 2, 1, 1, 2),
                ctx -> train(config(2, 2, k, capacity), ctx.rankGroups()));
        for (Result r : ep2) {
            assertSame(one, r, "ep=2");
            assertThat(r.localParameters()).as("each rank holds half the experts").isLessThan(one.localParameters());
        }
        List<Result> ep2dp2 = LoopbackRanks.run(DeviceMesh.forWorld(4, 4, 1, 1, 2),
                ctx -> train(config(4, 2, k, capacity), ctx.rankGroups()));
        for (Result r : ep2dp2) {
            assertSame(one, r, "ep=2 x dp=2");
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"zero.stage=1", "zero.stage=2", "zero.stage=3", "train.activation_checkpointing=true"})
    void composesWithZeroAndRecomputation(String setting) throws Exception {
        // ZeRO-1 partitions the AdamW state, ZeRO-2 also the gradients, ZeRO-3 also the parameters: of shared
        // buckets over dp, of expert buckets over edp. ZeRO-3 and activation checkpointing run the MoE segment's
        // forward (all-to-alls included) again just before its backward
        Result one = train(config(1, 1, 2, 1.0), RankGroups.single());
        List<Result> ep2 = LoopbackRanks.run(DeviceMesh.forWorld(2, 2, 1, 1, 2),
                ctx -> train(config(2, 2, 2, 1.0, setting), ctx.rankGroups()));
        for (Result r : ep2) {
            assertSame(one, r, "ep=2, " + setting);
        }
        List<Result> ep2dp2 = LoopbackRanks.run(DeviceMesh.forWorld(4, 4, 1, 1, 2),
                ctx -> train(config(4, 2, 2, 1.0, setting), ctx.rankGroups()));
        for (Result r : ep2dp2) {
            assertSame(one, r, "ep=2 x dp=2, " + setting);
        }
    }

    @Test
    void moeBlocksInAPipeline() throws Exception {
        // pp=2 (one MoE block per stage, ep 1): the auxiliary losses ride each stage's segment backward
        Result one = train(config(1, 1, 2, 1.0), RankGroups.single());
        List<Result> pp2 = LoopbackRanks.run(DeviceMesh.forWorld(2, 1, 1, 2, 1),
                ctx -> train(config(1, 1, 2, 1.0, "parallel.pp=2"), ctx.rankGroups()));
        for (Result r : pp2) {
            assertSame(one, r, "pp=2");
        }
    }

    @Test
    void expertsThatReceiveNoTokenWork() throws Exception {
        // 32 experts for 4 x 16 tokens a step at top-1: many experts (and so ranks, for some of their experts)
        // receive no token; their all-to-all parts are empty and their gradients zero
        String[] sets = {"model.moe.experts=32", "train.batch_size=4", "train.grad_accum=1"};
        Result one = train(config(1, 1, 1, 1.0, sets), RankGroups.single());
        assertThat(one.minExpertTokens()).isZero();
        List<Result> ep2dp2 = LoopbackRanks.run(DeviceMesh.forWorld(4, 4, 1, 1, 2),
                ctx -> train(config(4, 2, 1, 1.0, sets), ctx.rankGroups()));
        for (Result r : ep2dp2) {
            assertSame(one, r, "ep=2 x dp=2, 32 experts");
        }
        List<Result> ep4 = LoopbackRanks.run(DeviceMesh.forWorld(4, 4, 1, 1, 4),
                ctx -> train(config(4, 4, 1, 1.0, sets), ctx.rankGroups()));
        for (Result r : ep4) {
            assertSame(one, r, "ep=4");
        }
    }
}
