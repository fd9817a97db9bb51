package io.megalith.core.tensorparallel;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.family.bert.MlmPart;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.core.zero.GradientBuckets;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * {@link Trainer} honours frozen parameters: BERT (masked LM + NSP) with its embeddings frozen (the word
 * embedding is also the tied MLM decoder) trains at DP=2 and TP=2 as on one rank with the same freezing: the losses of
 * 6 steps (relative 1e-5), step-1 gradients of the trainable parameters, final parameters; frozen tensors stay
 * bit-identical and have neither gradient nor AdamW state. Set-up of {@link FamiliesTensorParallelEquivalenceTest}.
 */
class FrozenBertEquivalenceTest {
    static final int STEPS = 6;
    static final MegalithConfig.Finetune FROZEN_EMBEDDINGS = new MegalithConfig.Finetune(
            new MegalithConfig.Lora(0, 16, List.of()), List.of("embeddings."));

    record Result(List<Double> losses, Map<String, HostTensor> grads, Map<String, HostTensor> before,
            Map<String, HostTensor> after, List<String> frozen, Map<String, HostTensor> optimizerState) {}

    static Result train(MegalithConfig cfg, Communicator dp, Communicator tp) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        try (NDManager manager = Torch.newManager()) {
            BertConfig bc = new BertConfig(FamiliesTensorParallelEquivalenceTest.VOCAB, 16, 2, 2, 4, 32, 0.1, true, false,
                    true, 0, LoraConfig.NONE);
            ParallelBert bert = BertPlan.apply(new Bert(bc), Placement.tensorParallel(tp));
            List<Segment> plan = bert.segments(null, null);
            Freezing.apply(bert.model().parameters(), FROZEN_EMBEDDINGS);
            PartSource.Rows data = (step, first, count) -> MlmPart.of(bert,
                    FamiliesTensorParallelEquivalenceTest.bertRows(step, first, count));
            // laid out in backward order as a BERT run (family/segment/SegmentRun) does: several buckets, frozen parameters after them
            try (ParameterStore store = new ParameterStore(GradientBuckets.backwardOrder(plan), manager, cfg.seed());
                    Trainer trainer = FamiliesTensorParallelEquivalenceTest.trainer(cfg, store, plan, data, manager, dp,
                            tp)) {
                Map<String, HostTensor> before = trainer.fullParameters();
                List<Double> losses = new ArrayList<>();
                Map<String, HostTensor> grads = null;
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                    if (s == 0) {
                        grads = trainer.fullGradients();
                    }
                }
                List<String> frozen = bert.model().parameters().stream().filter(Parameter::frozen).map(Parameter::name).toList();
                return new Result(losses, grads, before, trainer.fullParameters(), frozen,
                        trainer.gatherOptimizerState());
            }
        }
    }

    static void assertLikeOneRank(Result one, Result r, String layout) {
        assertThat(one.frozen()).contains("embeddings.word.weight", "embeddings.position.weight");
        for (int s = 0; s < STEPS; s++) {
            assertThat(r.losses().get(s)).as("%s step %d loss", layout, s + 1)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
        assertThat(r.grads().keySet()).as("%s: gradients of the trainable parameters only", layout)
                .containsExactlyInAnyOrderElementsOf(one.grads().keySet()).doesNotContainAnyElementsOf(one.frozen());
        one.grads().forEach((name, want) -> Tolerances.assertCloseToLargest(want.toFloats(),
                r.grads().get(name).toFloats(), layout + " step-1 gradient of " + name));
        for (String name : one.frozen()) {
            assertThat(r.after().get(name).contentEquals(one.before().get(name))).as("%s frozen %s", layout, name)
                    .isTrue();
            assertThat(r.optimizerState()).doesNotContainKey("exp_avg." + name);
        }
        for (Map.Entry<String, HostTensor> e : one.after().entrySet()) {
            if (one.frozen().contains(e.getKey())) {
                continue;
            }
            assertThat(e.getValue().contentEquals(one.before().get(e.getKey()))).as("%s trains", e.getKey()).isFalse();
            float[] want = e.getValue().toFloats();
            float[] got = r.after().get(e.getKey()).toFloats();
            for (int i = 0; i < want.length; i++) {
                assertThat(Math.abs(got[i] - want[i])).as("%s final %s[%d]", layout, e.getKey(), i)
                        .isLessThanOrEqualTo(1e-5f * Math.max(1f, Math.abs(want[i])));
            }
        }
    }

    @Test
    void bertWithFrozenEmbeddingsAtDp2AndTp2ReproducesOneRank() throws Exception {
        Result one = train(FamiliesTensorParallelEquivalenceTest.config(1, 1), new SingleRankCommunicator(),
                new SingleRankCommunicator());
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
        for (Result r : LoopbackRanks.run(DeviceMesh.of(1, 2, 1), (ParallelContext ctx) -> train(
                FamiliesTensorParallelEquivalenceTest.config(1, 2), ctx.dataParallel(), ctx.tensorParallel()))) {
            assertLikeOneRank(one, r, "bert tp=2");
        }
        for (Result r : LoopbackRanks.run(DeviceMesh.of(2, 1, 1), (ParallelContext ctx) -> train(
                FamiliesTensorParallelEquivalenceTest.config(2, 1), ctx.dataParallel(), ctx.tensorParallel()))) {
            assertLikeOneRank(one, r, "bert dp=2");
        }
    }
}
