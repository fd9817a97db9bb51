package io.megalith.core.tensorparallel;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.RankGroups;
import io.megalith.comm.ReduceOp;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.SyntheticText;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * Megatron-style tensor parallelism is the one-rank computation: TP=2 (and DP=2 x TP=2) ranks over real
 * Netty sockets give the losses of one rank over 6 steps (relative 1e-5) and, after the first backward,
 * the gradients of named parameters (gathered from their slices, or summed for replicas).
 */
class TensorParallelEquivalenceTest {
    static final int STEPS = 6;
    static final List<String> CHECKED = List.of("wte.weight", "wpe.weight", "blocks.0.attn.qkv.weight",
            "blocks.0.attn.proj.weight", "blocks.1.mlp.fc.weight", "blocks.1.mlp.proj.weight", "blocks.1.ln2.weight",
            "ln_f.weight");

    record Result(List<Double> losses, Map<String, float[]> grads, long localParameters) {}

    static MegalithConfig config(int dp, int tp, String... more) {
        List<String> sets = new ArrayList<>(List.of("parallel.dp=" + dp, "parallel.tp=" + tp));
        sets.addAll(List.of(more));
        return ConfigLoader.fromYaml("""
                seed: 3
                model: {n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.1, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 6, batch_size: 4, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                """, sets, "tp test");
    }

    static String text() {
        StringBuilder sb = new StringBuilder();
        Random r = new Random(8);
        String[] words = {"arma", "virumque", "cano", "troiae", "qui", "primus", "ab", "oris"};
        while (sb.length() < 6000) {
            sb.append(words[r.nextInt(words.length)]).append(r.nextInt(5) == 0 ? ".\n" : " ");
        }
        return sb.toString();
    }

    static Result train(MegalithConfig cfg, Communicator dp, Communicator tp) {
        TextData data = SyntheticText.rankData(text(), cfg);
        Tokenizer tok = data.tokenizer();
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize())),
                    Placement.tensorParallel(tp));
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager, dp);
            gpt.initConstants(manager);
            Map<String, float[]> grads = firstGradients(cfg, gpt, (ParameterStore) params, data, manager, tp);
            List<Double> losses = new ArrayList<>();
            RankGroups groups = new RankGroups(dp, tp, new SingleRankCommunicator("pp", 0), null);
            try (Trainer trainer = new Trainer(cfg, new GptParts(gpt, data), params, manager, groups)) {
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                }
            }
            return new Result(losses, grads, params.numel());
        }
    }

    /** Gradients of the CHECKED parameters for step 0's first micro-batch, in full (one-rank) form. */
    static Map<String, float[]> firstGradients(MegalithConfig cfg, ParallelGpt gpt, ParameterStore store, TextData data,
            NDManager manager, Communicator tp) {
        Batch b = data.train(0, 0, cfg.train().batchSize());
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            Targets tg = Targets.of(m, b.targets());
            SegmentedPass.run(gpt.segments(tg), Ops.longs(m, b.inputs(), b.size(), b.seqLen()),
                    new ForwardContext(true, 11, 0, m), 1f, SegmentedPass.NO_HOOKS, SegmentedPass.Recompute.NONE, tp);
        }
        Map<String, HostTensor> local = new LinkedHashMap<>();
        for (Parameter p : store.parameters()) {
            if (!CHECKED.contains(p.name())) {
                continue;
            }
            float[] g = store.gradient(p).toFloatArray();
            if (p.sharding().kind() == Parameter.Sharding.Kind.PARTIAL) {
                ByteBuffer buf = ByteBuffer.allocateDirect(g.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(g);
                tp.allReduce(buf, ElementType.F32, ReduceOp.SUM);
                buf.asFloatBuffer().get(g);
            }
            local.put(p.name(), HostTensor.ofFloats(g, p.shape()));
        }
        Map<String, HostTensor> full = TensorParallelState.gather(local, store.parameters(), tp, "");
        store.zeroGradients();
        Map<String, float[]> out = new LinkedHashMap<>();
        full.forEach((k, v) -> out.put(k, v.toFloats()));
        return out;
    }

    static void assertSame(Result one, Result other, String layout) {
        for (int s = 0; s < STEPS; s++) {
            assertThat(other.losses().get(s)).as("%s step %d loss", layout, s + 1)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
        for (String name : CHECKED) {
            float[] want = one.grads().get(name);
            float[] got = other.grads().get(name);
            assertThat(got).as("%s gradient of %s", layout, name).hasSize(want.length);
            float scale = 0;
            for (float v : want) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int i = 0; i < want.length; i++) {
                assertThat(Math.abs(got[i] - want[i])).as("%s d %s[%d]", layout, name, i).isLessThanOrEqualTo(1e-5f * scale);
            }
        }
    }

    @Test
    void tensorParallelRanksReproduceOneRank() throws Exception {
        Result one = train(config(1, 1), new SingleRankCommunicator(),
                new SingleRankCommunicator());
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1),
                (ParallelContext ctx) -> train(config(1, 2), ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            assertSame(one, r, "tp=2");
            // each rank really holds about half the model (norms and positions are replicated)
            assertThat((double) r.localParameters()).isLessThan(one.localParameters() * 0.6);
        }
        List<Result> dp2tp2 = LoopbackRanks.run(DeviceMesh.of(2, 2, 1),
                (ParallelContext ctx) -> train(config(2, 2), ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : dp2tp2) {
            for (int s = 0; s < STEPS; s++) {
                assertThat(r.losses().get(s)).as("dp=2 x tp=2 step %d", s + 1)
                        .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
            }
        }
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
    }

    /** A structurally pruned shape (2 heads of 8 in a 32-wide model, 48 hidden units) splits as any other. */
    @Test
    void aPrunedShapeSplitsAsAnyOther() throws Exception {
        String[] pruned = {"model.n_head=2", "model.head_size=8", "model.mlp_hidden=48"};
        Result one = train(config(1, 1, pruned), new SingleRankCommunicator(), new SingleRankCommunicator());
        assertThat(one.localParameters()).isLessThan(train(config(1, 1), new SingleRankCommunicator(),
                new SingleRankCommunicator()).localParameters());
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1),
                (ParallelContext ctx) -> train(config(1, 2, pruned), ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            assertSame(one, r, "pruned shape, tp=2");
        }
    }
}
