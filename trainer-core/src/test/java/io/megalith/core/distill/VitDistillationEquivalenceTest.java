package io.megalith.core.distill;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.vit.SyntheticImages;
import io.megalith.core.family.vit.VitRun;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.ParallelVit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.parallelize.VitPlan;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * A ViT student distilled from a frozen, larger ViT teacher (held whole by every rank, seeing the student's images)
 * trains the one-rank loss in every layout: dp=2 with ZeRO-1 and tp=2 give one rank's losses and final weights (fp32,
 * 1e-5), ranks over real Netty loopback sockets. alpha 0 is plain training; the teacher changes what trains otherwise.
 */
class VitDistillationEquivalenceTest {
    private static final int STEPS = 4;
    private static final VitConfig TEACHER = new VitConfig(8, 8, 2, 2, 3, 3, 4, 48, 0.0, true, VitConfig.Pool.CLS,
            VitConfig.Positions.LEARNED);
    private static final VitConfig STUDENT = new VitConfig(8, 8, 2, 2, 3, 1, 2, 16, 0.1, true, VitConfig.Pool.MEAN,
            VitConfig.Positions.SINCOS);

    record Result(List<Double> losses, Map<String, HostTensor> weights) {}

    static MegalithConfig config(int dp, int tp, int zero) {
        return ConfigLoader.fromYaml("""
                seed: 3
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16, dropout: 0.1, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 4, batch_size: 8, grad_accum: 2, lr: 1.0e-2, warmup_steps: 1, min_lr: 1.0e-3}
                runtime: {threads: 1}
                """, List.of("parallel.dp=" + dp, "parallel.tp=" + tp, "zero.stage=" + zero), "vit distill test");
    }

    /** The student trained for STEPS steps with a teacher of alpha {@code alpha} (NaN: no teacher). */
    static Result train(MegalithConfig cfg, float alpha, Communicator dp, Communicator tp) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        SyntheticImages images = new SyntheticImages(2, 8, 3, 0, 17);
        ParallelVit student = VitPlan.apply(new Vit(STUDENT), Placement.tensorParallel(tp));
        List<Segment> plan = student.segments(null, null, 1f);
        RankGroups groups = new RankGroups(dp, tp, new SingleRankCommunicator("pp", 0), null);
        Vit teacherModel = new Vit(TEACHER);
        try (NDManager manager = Torch.newManager();
                NDManager teacherManager = Torch.newManager();
                // every rank builds the same frozen teacher (a seeded init), as each loads the same checkpoint
                ParameterStore teacherWeights = new ParameterStore(teacherModel, teacherManager, 99)) {
            assertThat(teacherWeights.numel()).isGreaterThan(store(STUDENT)); // a larger teacher
            ImageTeacher teaching = Float.isNaN(alpha) ? null : ImageTeacher.of(teacherModel, 2f, alpha);
            try (ModelParameters store = Trainer.createParameters(cfg, plan, manager, groups);
                    Trainer trainer = new Trainer(cfg, PartSource.of(plan, (step, first, count) ->
                            VitRun.part(student, images.train(step, first, count), teaching)), store, manager,
                            groups)) {
                List<Double> losses = new ArrayList<>();
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                }
                return new Result(losses, trainer.fullParameters());
            }
        }
    }

    private static long store(VitConfig shape) {
        return new Vit(shape).parameters().stream().mapToLong(p -> p.numel()).sum();
    }

    static void assertSame(Result one, Result other, String layout) {
        for (int s = 0; s < STEPS; s++) {
            assertThat(other.losses().get(s)).as("%s step %d loss", layout, s + 1)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
        one.weights().forEach((name, want) -> Tolerances.assertCloseToLargest(want.toFloats(),
                other.weights().get(name).toFloats(), layout + " weights of " + name));
    }

    @Test
    void everyLayoutDistilsAsOneRank() throws Exception {
        Result one = train(config(1, 1, 0), 0.5f, new SingleRankCommunicator(), new SingleRankCommunicator());
        List<Result> dp2 = LoopbackRanks.run(DeviceMesh.of(2, 1, 1), (ParallelContext ctx) ->
                train(config(2, 1, 1), 0.5f, ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : dp2) {
            assertSame(one, r, "dp=2 zero 1");
        }
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1), (ParallelContext ctx) ->
                train(config(1, 2, 0), 0.5f, ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            assertSame(one, r, "tp=2");
        }
    }

    @Test
    void alphaZeroIsPlainTrainingAndTheTeacherChangesWhatTrains() {
        SingleRankCommunicator dp = new SingleRankCommunicator();
        SingleRankCommunicator tp = new SingleRankCommunicator();
        Result plain = train(config(1, 1, 0), Float.NaN, dp, tp);
        Result alphaZero = train(config(1, 1, 0), 0f, dp, tp);
        for (int s = 0; s < STEPS; s++) {
            assertThat(alphaZero.losses().get(s)).as("step %d", s + 1)
                    .isCloseTo(plain.losses().get(s), Percentage.withPercentage(1e-4));
        }
        Result distilled = train(config(1, 1, 0), 0.5f, dp, tp);
        assertThat(distilled.losses().get(0)).isNotCloseTo(plain.losses().get(0), Percentage.withPercentage(1));
        assertThat(distilled.weights().get("head.weight").toFloats())
                .isNotEqualTo(plain.weights().get("head.weight").toFloats());
    }
}
