package io.megalith.core.tensorparallel;

import static io.megalith.core.testing.Tolerances.assertCloseToLargest;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.RankGroups;
import io.megalith.comm.ReduceOp;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.pipeline.PpLayout;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A GPT with LoRA adapters (rank 4, alpha 8) on attn.qkv, attn.proj, mlp.fc and mlp.proj, dropout on, trains at TP=2
 * (ranks over real Netty sockets) as on one rank: the losses of 5 AdamW steps within 1e-5 relative, and the
 * gradients of step 1 and step 5 of the adapters of column-parallel (qkv, fc: B sliced, A summed over ranks) and
 * row-parallel (proj: A sliced, B summed) layers and of base weights within the shared tolerance. Every B starts
 * random (not zero), so the adapter path carries signal from step 1: dA is non-zero and the output depends on B.
 * The same holds with sequence parallelism. {@link Lora#mergeInPlace} on every TP rank then leaves the model's
 * function unchanged (loss and base-weight gradients of a probe batch) and equal to the one-rank merged model's.
 * The global gradient norms agree, and evaluation (Trainer.validationLoss on the gathered one-rank model) sees the
 * adapters too.
 */
class LoraTensorParallelEquivalenceTest {
    static final int STEPS = 5;
    static final LoraConfig LORA = new LoraConfig(4, 8, List.of("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"));
    static final List<String> ADAPTERS = List.of("blocks.0.attn.qkv.lora_a", "blocks.0.attn.qkv.lora_b",
            "blocks.0.attn.proj.lora_a", "blocks.0.attn.proj.lora_b", "blocks.1.mlp.fc.lora_a", "blocks.1.mlp.fc.lora_b",
            "blocks.1.mlp.proj.lora_a", "blocks.1.mlp.proj.lora_b");
    static final List<String> BASE = List.of("wte.weight", "wpe.weight", "blocks.0.attn.qkv.weight",
            "blocks.0.attn.proj.weight", "blocks.1.mlp.fc.weight", "blocks.1.mlp.proj.weight", "ln_f.weight");
    static Result one;
    static List<Result> tp2; // plain TP=2, shared by the training and the merge test

    /** A probe batch's loss and full base-weight gradients (BASE), with the model's parameters as they are. */
    record Probe(double loss, Map<String, float[]> grads) {}

    record Result(List<Double> losses, List<Double> gradNorms, Map<String, float[]> firstGrads, Map<String, float[]> lastGrads,
            Probe unmerged, Probe merged, double validationLoss, long localParameters) {}

    static MegalithConfig config(int tp, boolean sequenceParallel) {
        return ConfigLoader.fromYaml("""
                seed: 3
                model: {n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.1, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 5, batch_size: 4, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                """, List.of("parallel.tp=" + tp, "parallel.sequence_parallel=" + sequenceParallel), "lora tp test");
    }

    /** The model of one rank of {@code groups}, its storage (in the trainer's layout) and data. */
    record Built(ParallelGpt gpt, ParameterStore store, TextData data) {}

    static Built build(MegalithConfig cfg, RankGroups groups, NDManager manager) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        String text = TensorParallelEquivalenceTest.text();
        CharTokenizer tok = CharTokenizer.fit(text);
        TextData data = new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
        Communicator tp = groups.tensorParallel();
        ParallelGpt gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize()), LORA),
                new Placement(new TpLayout(tp.rank(), tp.size()), tp, PpLayout.SINGLE, cfg.parallel().sequenceParallel(),
                        null));
        ParameterStore store = (ParameterStore) GptParts.createParameters(cfg, gpt, manager, groups);
        gpt.initConstants(manager);
        assertThat(randomB(store)).as("a B per targeted layer").isEqualTo(2 * 4);
        return new Built(gpt, store, data);
    }

    /**
     * Every B set to this rank's part of the same random one-rank tensor (normal(0, 0.02) by name), so that the
     * adapters change the output and A gets a gradient from the first step; returns the number of B's.
     */
    static int randomB(ParameterStore store) {
        Map<String, HostTensor> full = new LinkedHashMap<>();
        for (Parameter p : store.parameters()) {
            if (!p.name().endsWith(".lora_b")) {
                continue;
            }
            long[] shape = p.sharding().kind() == Parameter.Sharding.Kind.SLICE ? p.sharding().fullShape() : p.shape();
            float[] v = new float[(int) HostTensor.numel(shape)];
            Random r = new Random(p.name().hashCode());
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.02 * r.nextGaussian());
            }
            full.put(p.name(), HostTensor.ofFloats(v, shape));
        }
        FloatBuffer values = store.values();
        TensorParallelState.slice(full, store.parameters(), "").forEach((name, t) -> values.put(
                (int) store.parameters().stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow().offset(),
                t.toFloats()));
        return full.size();
    }

    static Result train(MegalithConfig cfg, RankGroups groups) {
        try (NDManager manager = Torch.newManager()) {
            Built b = build(cfg, groups, manager);
            List<Double> losses = new ArrayList<>();
            List<Double> norms = new ArrayList<>();
            Map<String, float[]> first = null;
            Map<String, float[]> last = null;
            double validation;
            GptParts parts = new GptParts(b.gpt(), b.data());
            try (Trainer trainer = new Trainer(cfg, parts, b.store(), manager, groups)) {
                for (int s = 0; s < STEPS; s++) {
                    Trainer.StepStats stats = trainer.step(s);
                    losses.add(stats.loss());
                    norms.add(stats.gradNorm());
                    if (s == 0 || s == STEPS - 1) {
                        Map<String, float[]> g = named(trainer.fullGradients(), ADAPTERS, BASE);
                        if (s == 0) {
                            first = g;
                        } else {
                            last = g;
                        }
                    }
                }
                validation = parts.validationLoss(trainer, 2); // on the gathered one-rank model: adapters included
            }
            Probe unmerged = probe(b, groups.tensorParallel());
            Lora.mergeInPlace(b.gpt().model());
            Probe merged = probe(b, groups.tensorParallel());
            for (Parameter p : b.store().parameters()) {
                if (p.name().endsWith(".lora_b")) {
                    assertThat(b.store().toHost().get(p.name()).toFloats()).as("merged %s", p.name()).containsOnly(0f);
                }
            }
            return new Result(losses, norms, first, last, unmerged, merged, validation, b.store().numel());
        }
    }

    @SafeVarargs
    static Map<String, float[]> named(Map<String, HostTensor> all, List<String>... names) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (List<String> list : names) {
            for (String n : list) {
                assertThat(all).as("tensor %s", n).containsKey(n);
                out.put(n, all.get(n).toFloats());
            }
        }
        return out;
    }

    /**
     * Forward and backward of a fixed batch (dropout masks keyed by a fixed seed): the loss and the one-rank gradients
     * of the BASE weights (slices gathered, partial sums summed over the group), which depend on every activation.
     */
    static Probe probe(Built b, Communicator tp) {
        Batch batch = b.data().train(1000, 0, 4);
        float loss;
        try (NDScope scope = new NDScope(); NDManager m = b.store().manager().newSubManager()) {
            loss = SegmentedPass.run(b.gpt().segments(Targets.of(m, batch.targets())),
                    Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen()), new ForwardContext(true, 17, 0, m), 1f,
                    SegmentedPass.NO_HOOKS, SegmentedPass.Recompute.NONE, tp);
        }
        Map<String, HostTensor> local = new LinkedHashMap<>();
        for (Parameter p : b.store().parameters()) {
            if (!BASE.contains(p.name())) {
                continue;
            }
            float[] g = b.store().gradient(p).toFloatArray();
            if (p.sharding().kind() == Parameter.Sharding.Kind.PARTIAL) {
                ByteBuffer buf = ByteBuffer.allocateDirect(g.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(g);
                tp.allReduce(buf, ElementType.F32, ReduceOp.SUM);
                buf.asFloatBuffer().get(g);
            }
            local.put(p.name(), HostTensor.ofFloats(g, p.shape()));
        }
        b.store().zeroGradients();
        return new Probe(loss, named(TensorParallelState.gather(local, b.store().parameters(), tp, ""), BASE));
    }

    static synchronized List<Result> tp2() throws Exception {
        if (tp2 == null) {
            tp2 = runTp2(false);
        }
        return tp2;
    }

    static List<Result> runTp2(boolean sequenceParallel) throws Exception {
        MegalithConfig cfg = config(2, sequenceParallel);
        return LoopbackRanks.run(DeviceMesh.of(1, 2, 1), ctx -> train(cfg, ctx.rankGroups()));
    }

    @BeforeAll
    static void oneRank() {
        one = train(config(1, false), RankGroups.single());
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
        for (String name : ADAPTERS) {
            float largest = 0;
            for (float v : one.firstGrads().get(name)) {
                largest = Math.max(largest, Math.abs(v));
            }
            assertThat(largest).as("step-1 gradient of %s is not zero (B starts random)", name).isGreaterThan(1e-6f);
        }
    }

    static void assertLikeOneRank(List<Result> ranks, String layout) {
        for (Result r : ranks) {
            for (int s = 0; s < STEPS; s++) {
                assertThat(r.losses().get(s)).as("%s step %d loss", layout, s + 1)
                        .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
                // replicated adapter factors (PARTIAL) counted once in the global norm that clipping uses
                assertThat(r.gradNorms().get(s)).as("%s step %d gradient norm", layout, s + 1)
                        .isCloseTo(one.gradNorms().get(s), Percentage.withPercentage(1e-3));
            }
            one.firstGrads().forEach((name, want) ->
                    assertCloseToLargest(want, r.firstGrads().get(name), layout + " step-1 gradient of " + name));
            one.lastGrads().forEach((name, want) ->
                    assertCloseToLargest(want, r.lastGrads().get(name), layout + " step-5 gradient of " + name));
            assertThat(r.validationLoss()).as("%s validation loss", layout)
                    .isCloseTo(one.validationLoss(), Percentage.withPercentage(1e-3));
            assertThat((double) r.localParameters()).as("%s: a rank holds about half the model", layout)
                    .isLessThan(one.localParameters() * 0.7);
        }
    }

    @Test
    void loraAtTensorParallelTwoTrainsAsOneRank() throws Exception {
        assertLikeOneRank(tp2(), "tp=2");
    }

    @Test
    void loraAtTensorParallelTwoWithSequenceParallelismTrainsAsOneRank() throws Exception {
        assertLikeOneRank(runTp2(true), "tp=2 sp");
    }

    /** Merging on every rank keeps the TP model's function, which is the one-rank merged model's. */
    @Test
    void mergeOnEveryRankKeepsTheFunctionAndEqualsTheOneRankMerge() throws Exception {
        assertThat(one.merged().loss()).as("one rank: merged = unmerged loss")
                .isCloseTo(one.unmerged().loss(), Percentage.withPercentage(1e-3));
        for (Result r : tp2()) {
            assertThat(r.merged().loss()).as("tp=2 merged vs unmerged loss")
                    .isCloseTo(r.unmerged().loss(), Percentage.withPercentage(1e-3));
            assertThat(r.merged().loss()).as("tp=2 merged vs one-rank merged loss")
                    .isCloseTo(one.merged().loss(), Percentage.withPercentage(1e-3));
            r.unmerged().grads().forEach((name, want) ->
                    assertCloseToLargest(want, r.merged().grads().get(name), "tp=2 merged vs unmerged d " + name));
            one.merged().grads().forEach((name, want) ->
                    assertCloseToLargest(want, r.merged().grads().get(name), "tp=2 vs one-rank merged d " + name));
        }
    }
}
