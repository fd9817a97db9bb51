package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitBatch;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.parallelize.DitPlan;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * A text-conditioned DiT (cross-attention over random caption states with padding, 20% of captions dropped for the
 * null text) trains the same at tp=2 (self- and cross-attention heads and MLP split) and at dp=2 with ZeRO-2 and 3 as
 * on one rank, through the {@link Trainer}, ranks over real sockets: the losses of 4 AdamW steps agree within 1e-5
 * relative, the step-1 gradients of every parameter (from random weights; replicated storage) and of every row's
 * caption states (what a text encoder receives: summed over the tensor-parallel group) within 1e-5 of their largest
 * element. Then with a stand-in text encoder in the same pass (a token embedding, replicated with PARTIAL gradients)
 * and a DiT whose c reads the pooled caption too (model.pooled_text): its gradients too.
 */
class TextDitParallelEquivalenceTest {
    static final int STEPS = 4;
    static final int TEXT = 24;
    static final int TK = 5;
    static final DitConfig DIT = new DitConfig(1, DitRuns.SIDE, DitRuns.SIDE, 2, 2, 4, 32, 0, 32, TEXT);
    static final DitConfig POOLED = new DitConfig(1, DitRuns.SIDE, DitRuns.SIDE, 2, 2, 4, 32, 0, 32, TEXT,
            DitConfig.TextPool.LAST);
    static final DiffusionConfig DIFFUSION = new DiffusionConfig(100, "linear", Prediction.EPSILON, 0.2, 10, 0, 2,
            0, 0.99);

    record Result(List<Double> losses, Map<String, float[]> grads, Map<Long, float[]> statesGrads,
            long localParameters) {}

    /** Captions of global rows [first, first + count) of a step: 1..TK tokens of random states each. */
    static Conditioning.Text captions(Noising noising, long step, int first, int count) {
        float[] states = new float[count * TK * TEXT];
        boolean[] mask = new boolean[count * TK];
        for (int r = 0; r < count; r++) {
            long key = CounterRng.key(77, step, first + r);
            long len = 1 + CounterRng.below(key, 0, TK);
            for (int k = 0; k < TK; k++) {
                mask[r * TK + k] = k < len;
                for (int j = 0; j < TEXT; j++) {
                    states[(r * TK + k) * TEXT + j] = (float) CounterRng.normal(key, 1 + k * TEXT + j);
                }
            }
        }
        return new Conditioning.Text(states, new DitText(mask, noising.captionDrops(step, first, count), count, TK),
                TEXT);
    }

    record Sink(long step, int first, int count, float[] grad) {}

    static final int VOCAB = 11;

    /** Token ids [count, TK] of global rows [first, first + count) of a step. */
    static long[] ids(long step, int first, int count) {
        long[] out = new long[count * TK];
        for (int r = 0; r < count; r++) {
            long key = CounterRng.key(78, step, first + r);
            for (int k = 0; k < TK; k++) {
                out[r * TK + k] = CounterRng.below(key, k, VOCAB);
            }
        }
        return out;
    }

    static Result run(int dp, int tp, int zero, Communicator dpGroup, Communicator tpGroup) {
        return run(dp, tp, zero, false, dpGroup, tpGroup);
    }

    static Result run(int dp, int tp, int zero, boolean withEncoder, Communicator dpGroup, Communicator tpGroup) {
        List<Double> losses = new ArrayList<>();
        Map<String, float[]> grads = new LinkedHashMap<>();
        Map<Long, float[]> statesGrads = new TreeMap<>();
        MegalithConfig cfg = DitRuns.config("{max_steps: 4, batch_size: 4, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, "
                + "min_lr: 3.0e-4}", "parallel.dp=" + dp, "parallel.tp=" + tp, "zero.stage=" + zero);
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        DitConfig dit = withEncoder ? POOLED : DIT;
        ParallelDit model = DitPlan.apply(new Dit(dit), Placement.tensorParallel(tpGroup));
        Noising noising = new Noising(DIFFUSION, cfg.seed(), 0);
        List<Sink> sinks = new ArrayList<>();
        long local;
        Embedding embed = new Embedding("encoder.embed", VOCAB, TEXT, 1.0);
        if (tpGroup.size() > 1) {
            embed.weight().shard(Parameter.Sharding.PARTIAL); // replicated: each rank's gradient is its heads' part
        }
        List<Segment> encoder = List.of(Segment.of("encoder", embed.parameters(), Segment.Boundary.NONE, 0,
                (ids, skip, ctx) -> embed.forward(ids)));
        PartSource.Rows rows = (step, first, count) -> {
            Conditioning.Text text = captions(noising, step, first, count);
            DitBatch batch = noising.rows(DitRuns.halves(step, first, count), step, first);
            if (withEncoder) {
                long[] ids = ids(step, first, count);
                return DiffusionPart.of(model, batch, text.text(), new DiffusionPart.TextEncoder(encoder,
                        m -> Ops.longs(m, ids, count, TK)));
            }
            float[] grad = new float[text.states().length];
            sinks.add(new Sink(step, first, count, grad));
            return DiffusionPart.of(model, batch, text, grad);
        };
        List<Segment> plan = new ArrayList<>(withEncoder ? encoder : List.of());
        plan.addAll(model.textSegments(null, null, null).all());
        RankGroups groups = new RankGroups(dpGroup, tpGroup, new SingleRankCommunicator("pp", 0), null);
        try (NDManager manager = Torch.newManager();
                ModelParameters params = Trainer.createParameters(cfg, plan, manager, groups);
                Trainer trainer = new Trainer(cfg, PartSource.of(plan, rows), params, manager, groups)) {
            Map<String, HostTensor> start = new LinkedHashMap<>(DitRuns.randomWeights(dit, 0.1));
            if (withEncoder) {
                float[] table = new float[VOCAB * TEXT];
                long key = CounterRng.key(79, "encoder");
                for (int i = 0; i < table.length; i++) {
                    table[i] = (float) CounterRng.normal(key, i);
                }
                start.put("encoder.embed.weight", HostTensor.ofFloats(table, new long[] {VOCAB, TEXT}));
            }
            trainer.loadFullParameters(start);
            local = params.numel();
            for (int s = 0; s < STEPS; s++) {
                losses.add(trainer.step(s).loss());
                if (s == 0 && zero < 2) {
                    trainer.fullGradients().forEach((name, g) -> grads.put(name, g.toFloats()));
                }
            }
        }
        for (Sink k : sinks) {
            if (k.step() == 0) {
                int per = TK * TEXT;
                for (int r = 0; r < k.count(); r++) {
                    float[] row = new float[per];
                    System.arraycopy(k.grad(), r * per, row, 0, per);
                    statesGrads.put((long) k.first() + r, row);
                }
            }
        }
        return new Result(losses, grads, statesGrads, local);
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
        other.statesGrads().forEach((row, got) -> Tolerances.assertCloseToLargest(one.statesGrads().get(row), got,
                layout + " d states of row " + row));
    }

    @Test
    void tp2AndDp2WithZero2And3ReproduceOneRank() throws Exception {
        Result one = run(1, 1, 0, new SingleRankCommunicator(), new SingleRankCommunicator());
        assertThat(one.grads()).containsKeys("null_text", "text_proj.fc1.weight", "blocks.0.ln_cross.weight",
                "blocks.0.cross.q.weight", "blocks.1.cross.kv.weight", "blocks.1.cross.proj.weight", "patch.weight");
        assertThat(one.statesGrads()).hasSize(8);
        float largest = 0;
        for (float[] g : one.statesGrads().values()) {
            for (float v : g) {
                largest = Math.max(largest, Math.abs(v));
            }
        }
        assertThat(largest).as("the states get a gradient").isGreaterThan(0f);
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1),
                (ParallelContext ctx) -> run(1, 2, 0, ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            assertThat(r.statesGrads()).hasSize(8);
            assertSame(one, r, "tp=2");
            assertThat((double) r.localParameters()).as("each rank holds its heads and hidden units")
                    .isLessThan(one.localParameters() * 0.85);
        }
        for (int zero = 2; zero <= 3; zero++) {
            int stage = zero;
            List<Result> dp2 = LoopbackRanks.run(DeviceMesh.of(2, 1, 1),
                    (ParallelContext ctx) -> run(2, 1, stage, ctx.dataParallel(), ctx.tensorParallel()));
            Map<Long, float[]> rows = new TreeMap<>();
            for (Result r : dp2) {
                assertSame(one, r, "dp=2 zero " + stage);
                rows.putAll(r.statesGrads());
            }
            assertThat(rows).as("the ranks' rows").hasSize(8);
        }
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
    }

    @Test
    void withATextEncoderInThePassTp2AndDp2ReproduceOneRank() throws Exception {
        Result one = run(1, 1, 0, true, new SingleRankCommunicator(), new SingleRankCommunicator());
        assertThat(one.grads()).containsKeys("encoder.embed.weight", "null_text", "blocks.1.cross.kv.weight",
                "text_pool.weight");
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1),
                (ParallelContext ctx) -> run(1, 2, 0, true, ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            assertSame(one, r, "tp=2 with an encoder");
        }
        List<Result> dp2 = LoopbackRanks.run(DeviceMesh.of(2, 1, 1),
                (ParallelContext ctx) -> run(2, 1, 2, true, ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : dp2) {
            assertSame(one, r, "dp=2 zero 2 with an encoder");
        }
    }
}
