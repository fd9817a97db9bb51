package io.megalith.core.prune;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.InJvmRanks;
import io.megalith.core.testing.SyntheticText;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * Gradual magnitude pruning applied to a trainer from outside trains the one-rank computation in every layout:
 * two workers, dp=2 (ZeRO 0 and 1), tp=2 (masks cut from the gathered whole tensors, each rank enforcing its
 * slices) and two pipeline stages give the losses (1e-5), final weights (1e-5) and final masks (exactly) of one rank;
 * the final weights are exactly as sparse as the schedule's end says, and pruning changed what trained.
 */
class PruningEquivalenceTest {
    static final int STEPS = 8;
    static final PruneSchedule SCHEDULE = new PruneSchedule(0.6, 1, 6, 2);

    record Result(List<Double> losses, Map<String, HostTensor> weights, Map<String, float[]> masks) {}

    static MegalithConfig config(int dp, int tp, int pp, int zero, int workers) {
        return ConfigLoader.fromYaml("""
                seed: 5
                model: {n_layer: 2, n_head: 2, n_embd: 16, block_size: 16, dropout: 0.1}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 8, batch_size: 8, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                parallel: {grad_bucket_mib: 0.01}
                """, List.of("parallel.dp=" + dp, "parallel.tp=" + tp, "parallel.pp=" + pp, "zero.stage=" + zero,
                "runtime.workers=" + workers), "prune test");
    }

    static Result train(MegalithConfig cfg, RankGroups groups, boolean prune) {
        TextData data = SyntheticText.rankData(
                SyntheticText.words(3, 8000, "alpha", "beta", "gamma", "the", "and", "of", "sea", "sky"), cfg);
        int vocab = data.tokenizer().vocabSize();
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), vocab)), Placement.of(groups, false));
            ModelParameters store = GptParts.createParameters(cfg, gpt, manager, groups.dataParallel());
            gpt.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(gpt, data, null), store, manager, groups)) {
                Pruning pruning = new Pruning(trainer, trainer::fullParameters, groups.tensorParallel(), SCHEDULE);
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                    if (prune) {
                        pruning.afterStep(s + 1);
                    }
                }
                Map<String, HostTensor> weights = trainer.fullParameters();
                // the whole masks, as one rank cuts them: from the final weights' zeros at the final sparsity
                return new Result(losses, weights, MagnitudeMask.masks(weights, SCHEDULE.sparsity()));
            }
        }
    }

    @Test
    void everyLayoutPrunesAsOneRank() throws Exception {
        Result one = train(config(1, 1, 1, 0, 1), RankGroups.single(), true);
        Result plain = train(config(1, 1, 1, 0, 1), RankGroups.single(), false);
        assertThat(one.masks()).containsKeys("blocks.0.attn.qkv.weight", "blocks.1.mlp.proj.weight")
                .doesNotContainKey("wte.weight");
        assertThat(MagnitudeMask.sparsity(one.weights())).as("exactly the final sparsity").isEqualTo(0.6,
                org.assertj.core.data.Offset.offset(0.002));
        assertThat(MagnitudeMask.sparsity(plain.weights())).isZero();
        assertThat(one.losses().get(STEPS - 1)).as("pruning changes training")
                .isNotCloseTo(plain.losses().get(STEPS - 1), Percentage.withPercentage(0.01));
        compare(one, train(config(1, 1, 1, 0, 2), RankGroups.single(), true), "two workers");
        for (int zero : new int[] {0, 1}) {
            MegalithConfig cfg = config(2, 1, 1, zero, 1);
            for (Result r : InJvmRanks.run(DeviceMesh.of(2, 1, 1), ctx -> train(cfg, ctx.rankGroups(), true))) {
                compare(one, r, "dp=2 zero " + zero);
            }
        }
        MegalithConfig tp = config(1, 2, 1, 0, 1);
        for (Result r : InJvmRanks.run(DeviceMesh.of(1, 2, 1), ctx -> train(tp, ctx.rankGroups(), true))) {
            compare(one, r, "tp=2");
        }
        MegalithConfig pp = config(1, 1, 2, 0, 1);
        for (Result r : InJvmRanks.run(DeviceMesh.of(1, 1, 2), ctx -> train(pp, ctx.rankGroups(), true))) {
            compare(one, r, "pp=2");
        }
    }

    private static void compare(Result want, Result got, String what) {
        Tolerances.assertSameTraining(want.losses(), want.weights(), got.losses(), got.weights(), what);
        assertThat(got.masks().keySet()).containsExactlyInAnyOrderElementsOf(want.masks().keySet());
        want.masks().forEach((name, m) -> assertThat(got.masks().get(name)).as("%s mask of %s", what, name)
                .containsExactly(m));
    }
}
