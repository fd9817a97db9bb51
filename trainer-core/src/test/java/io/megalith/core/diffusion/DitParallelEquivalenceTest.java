package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * A DiT trains the same at tp=2 (heads and MLP split) and at dp=2 with ZeRO-1, 2 and 3 as on one rank, through the
 * {@link Trainer}, ranks over real sockets: the losses of 5 AdamW steps (t, noise and label drops keyed by global row)
 * agree within 1e-5 relative, and the step-1 gradients of every parameter (from random weights, so the adaLN-Zero
 * layers are not all zero; gathered from replicated storage: ZeRO 0 and 1) within 1e-5 of their largest element. At
 * dp=2 each rank keeps the AdamW moments of about half the parameters.
 */
class DitParallelEquivalenceTest {
    static final int STEPS = 5;
    static final DitConfig DIT = new DitConfig(1, DitRuns.SIDE, DitRuns.SIDE, 2, 2, 4, 32, 2, 32);
    static final DiffusionConfig DIFFUSION = new DiffusionConfig(100, "linear", Prediction.EPSILON, 0.2, 10, 0, 2,
            0, 0.99);

    record Result(List<Double> losses, Map<String, float[]> grads, long localParameters, long optimizerBytes) {}

    static Result run(int dp, int tp, int zero, Communicator dpGroup, Communicator tpGroup) {
        List<Double> losses = new ArrayList<>();
        Map<String, float[]> grads = new LinkedHashMap<>();
        long[] local = new long[2];
        DitRuns.train(DitRuns.config("{max_steps: 5, batch_size: 4, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, "
                        + "min_lr: 3.0e-4}", "parallel.dp=" + dp, "parallel.tp=" + tp, "zero.stage=" + zero),
                DIT, DIFFUSION, dpGroup, tpGroup, DitRuns.randomWeights(DIT, 0.1), STEPS,
                (step, loss, trainer, params, model) -> {
                    losses.add(loss);
                    local[0] = params.numel();
                    if (step == 0 && zero < 2) { // gradients of replicated storage only
                        trainer.fullGradients().forEach((name, g) -> grads.put(name, g.toFloats()));
                    }
                    local[1] = trainer.memoryBytes()[2];
                });
        return new Result(losses, grads, local[0], local[1]);
    }

    static void assertSame(Result one, Result other, String layout) {
        for (int s = 0; s < STEPS; s++) {
            assertThat(other.losses().get(s)).as("%s step %d loss", layout, s + 1)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
        if (!other.grads().isEmpty()) {
            assertThat(other.grads().keySet()).containsExactlyElementsOf(one.grads().keySet());
            one.grads().forEach((name, want) -> Tolerances.assertCloseToLargest(want, other.grads().get(name),
                    layout + " d " + name));
        }
    }

    @Test
    void tp2AndDp2WithZero1To3ReproduceOneRank() throws Exception {
        Result one = run(1, 1, 0, new SingleRankCommunicator(), new SingleRankCommunicator());
        assertThat(one.grads()).containsKeys("patch.weight", "time.fc1.weight", "label.weight",
                "blocks.0.attn.qkv.weight", "blocks.1.mlp.fc.weight", "blocks.1.modulation.weight",
                "final.linear.weight");
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1),
                (ParallelContext ctx) -> run(1, 2, 0, ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            assertSame(one, r, "tp=2");
            assertThat((double) r.localParameters()).as("each rank holds its heads and hidden units")
                    .isLessThan(one.localParameters() * 0.85);
        }
        for (int zero = 1; zero <= 3; zero++) {
            int stage = zero;
            List<Result> dp2 = LoopbackRanks.run(DeviceMesh.of(2, 1, 1),
                    (ParallelContext ctx) -> run(2, 1, stage, ctx.dataParallel(), ctx.tensorParallel()));
            for (Result r : dp2) {
                assertSame(one, r, "dp=2 zero " + stage);
                assertThat((double) r.optimizerBytes()).as("zero %d optimizer bytes", stage)
                        .isLessThan(one.optimizerBytes() * 0.6);
            }
        }
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
    }
}
