package io.megalith.core.distill;

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
import io.megalith.core.nn.ParameterStore;
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
import org.junit.jupiter.api.Test;

/**
 * A student distilled from a frozen teacher (a wider, deeper GPT held whole by every rank) trains the one-rank
 * computation in every layout: DP=2 with and without ZeRO-3, two pipeline stages, and two worker threads on one rank give
 * the losses and final weights of one rank (fp32, 1e-5). The teacher changes the student's training (the losses
 * differ from plain training), and alpha = 0 is plain training exactly.
 */
class DistillationEquivalenceTest {
    static final int STEPS = 6;
    static final long TEACHER_SEED = 99;

    record Result(List<Double> losses, Map<String, HostTensor> weights) {}

    static MegalithConfig config(int dp, int zero, int workers, double alpha) {
        return config(dp, 1, zero, workers, alpha);
    }

    static MegalithConfig config(int dp, int pp, int zero, int workers, double alpha) {
        return ConfigLoader.fromYaml("""
                seed: 5
                model: {n_layer: 2, n_head: 2, n_embd: 16, block_size: 16, dropout: 0.1}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 6, batch_size: 8, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                parallel: {grad_bucket_mib: 0.01}
                """, List.of("parallel.dp=" + dp, "parallel.pp=" + pp, "zero.stage=" + zero, "runtime.workers=" + workers), "distill test");
    }

    static Result train(MegalithConfig cfg, RankGroups groups, double alpha, boolean withTeacher) {
        TextData data = SyntheticText.rankData(
                SyntheticText.words(3, 8000, "alpha", "beta", "gamma", "the", "and", "of", "sea", "sky"), cfg);
        int vocab = data.tokenizer().vocabSize();
        try (NDManager manager = Torch.newManager()) {
            // every rank loads the same frozen teacher, as GptRun does from the teacher's checkpoint
            Gpt teacherModel = new Gpt(new GptConfig(vocab, 16, 2, 2, 32, 0.0, false));
            ParameterStore teacherWeights = new ParameterStore(teacherModel, manager, TEACHER_SEED);
            teacherModel.initConstants(manager);
            Teacher teacher = withTeacher ? Teacher.of(teacherModel, new byte[0], 2f, (float) alpha) : null;

            ParallelGpt gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), vocab)), Placement.of(groups, false));
            ModelParameters store = GptParts.createParameters(cfg, gpt, manager, groups.dataParallel());
            gpt.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(gpt, data, teacher), store, manager,
                    groups)) {
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                }
                Map<String, HostTensor> weights = trainer.fullParameters();
                teacherWeights.close();
                return new Result(losses, weights);
            }
        }
    }

    @Test
    void everyDataParallelLayoutOfAStudentTrainsTheOneRankStudent() throws Exception {
        Result one = train(config(1, 0, 1, 0.5), RankGroups.single(), 0.5, true);
        compare(one, train(config(1, 0, 2, 0.5), RankGroups.single(), 0.5, true), "two workers");
        for (int zero : new int[] {0, 3}) {
            MegalithConfig cfg = config(2, zero, 1, 0.5);
            List<Result> ranks = InJvmRanks.run(DeviceMesh.of(2, 1, 1), ctx -> train(cfg, ctx.rankGroups(), 0.5, true));
            for (Result r : ranks) {
                compare(one, r, "dp=2 zero " + zero);
            }
        }
        // the last pipeline stage computes the loss, and runs the teacher
        MegalithConfig pipeline = config(1, 2, 0, 1, 0.5);
        for (Result r : InJvmRanks.run(DeviceMesh.of(1, 1, 2), ctx -> train(pipeline, ctx.rankGroups(), 0.5, true))) {
            compare(one, r, "pp=2");
        }
    }

    @Test
    void theTeacherChangesTrainingAndAlphaZeroIsPlainTraining() throws Exception {
        Result plain = train(config(1, 0, 1, 0), RankGroups.single(), 0, false);
        Result alphaZero = train(config(1, 0, 1, 0), RankGroups.single(), 0, true);
        Result distilled = train(config(1, 0, 1, 0.5), RankGroups.single(), 0.5, true);
        compare(plain, alphaZero, "alpha 0");
        for (int s = 0; s < STEPS; s++) {
            assertThat(Math.abs(distilled.losses().get(s) - plain.losses().get(s))).as("step %d: the teacher's "
                    + "soft loss moves the loss", s + 1).isGreaterThan(1e-3);
        }
    }

    private static void compare(Result want, Result got, String what) {
        Tolerances.assertSameTraining(want.losses(), want.weights(), got.losses(), got.weights(), what);
    }
}
