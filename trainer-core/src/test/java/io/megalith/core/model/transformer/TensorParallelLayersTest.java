package io.megalith.core.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.TransformerPlan;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.TensorParallelState;
import io.megalith.core.tensorparallel.TpLayout;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The encoder and encoder-decoder sub-layers under tensor parallelism, TP=2 vs one rank, with the one-rank
 * weights sliced onto the two ranks and dropout on: the ranks' outputs sum to the one-rank output (the forward
 * all-reduce), their input (and encoder-memory) gradients sum to the one-rank ones (the backward all-reduce),
 * sliced parameters get exactly their slice of the one-rank gradient and replicated partial ones sum to it.
 * This is what a segment-wise TP runner needs from the layers (the GPT, BERT and the encoder-decoder all run them).
 */
class TensorParallelLayersTest {
    private static final LayerSpec SPEC = new LayerSpec(16, 4, 0.2, true, true, 2, LoraConfig.NONE);
    private static final int B = 2;
    private static final int T = 5;
    private static final int TK = 6;
    private static NDManager root;

    @BeforeAll
    static void load() {
        Torch.load(1);
        root = Torch.newManager();
    }

    @AfterAll
    static void close() {
        root.close();
    }

    /** What one run of a layer gives: output, input gradient(s) and parameter gradients by name. */
    private record Run(float[] out, float[] gradX, float[] gradMem, Map<String, HostTensor> grads) {}

    private interface Layer {
        PtNDArray forward(PtNDArray x, PtNDArray memory, ForwardContext ctx);
    }

    private static Run run(Module module, ParameterStore store, Layer layer, float[] x, float[] mem, float[] upstream,
            boolean withMemory) {
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            PtNDArray xt = Ops.floats(m, x, B, T, 16);
            JniUtils.attachGradient(xt, true);
            PtNDArray mt = null;
            if (withMemory) {
                mt = Ops.floats(m, mem, B, TK, 16);
                JniUtils.attachGradient(mt, true);
            }
            JniUtils.setGradMode(true);
            PtNDArray out;
            try {
                out = layer.forward(xt, mt, new ForwardContext(true, 99, m));
            } finally {
                JniUtils.setGradMode(false);
            }
            JniUtils.backward(out, Ops.floats(m, upstream, B, T, 16), false, false);
            Map<String, HostTensor> g = new LinkedHashMap<>();
            for (Parameter p : store.parameters()) {
                g.put(p.name(), HostTensor.ofFloats(store.gradient(p).toFloatArray(), p.shape()));
            }
            store.zeroGradients();
            return new Run(out.toFloatArray(), JniUtils.getGradient(xt).toFloatArray(),
                    withMemory ? JniUtils.getGradient(mt).toFloatArray() : null, g);
        }
    }

    private static void check(Function<TpLayout, Module> build, Function<Module, Layer> layerOf, boolean withMemory) {
        Random r = new Random(1);
        float[] x = gaussian(r, B * T * 16);
        float[] mem = gaussian(r, B * TK * 16);
        float[] up = gaussian(r, B * T * 16);
        Module full = build.apply(TpLayout.SINGLE);
        try (ParameterStore fullStore = new ParameterStore(full, root, 3)) {
            FloatBuffer v = fullStore.values();
            for (int i = 0; i < fullStore.numel(); i++) {
                v.put(i, (float) (0.3 * r.nextGaussian()));
            }
            Run one = run(full, fullStore, layerOf.apply(full), x, mem, up, withMemory);
            float[] out = new float[one.out().length];
            float[] gx = new float[one.gradX().length];
            float[] gm = withMemory ? new float[one.gradMem().length] : null;
            Map<String, float[]> partialSums = new LinkedHashMap<>();
            for (int rank = 0; rank < 2; rank++) {
                Module shard = build.apply(new TpLayout(rank, 2));
                try (ParameterStore s = new ParameterStore(shard, root, 0)) {
                    s.load(TensorParallelState.slice(fullStore.toHost(), s.parameters(), ""));
                    Run part = run(shard, s, layerOf.apply(shard), x, mem, up, withMemory);
                    add(out, part.out());
                    add(gx, part.gradX());
                    if (withMemory) {
                        add(gm, part.gradMem());
                    }
                    Map<String, HostTensor> expected = TensorParallelState.slice(one.grads(), s.parameters(), "");
                    for (Parameter p : s.parameters()) {
                        float[] g = part.grads().get(p.name()).toFloats();
                        if (p.sharding().kind() == Parameter.Sharding.Kind.SLICE) {
                            assertClose(g, expected.get(p.name()).toFloats(), p.name() + " on rank " + rank);
                        } else {
                            add(partialSums.computeIfAbsent(p.name(), k -> new float[g.length]), g);
                        }
                    }
                }
            }
            assertClose(out, one.out(), "output = sum over ranks");
            assertClose(gx, one.gradX(), "input gradient = sum over ranks");
            if (withMemory) {
                assertClose(gm, one.gradMem(), "memory gradient = sum over ranks");
            }
            assertThat(partialSums).as("replicated parameters: row-parallel biases").isNotEmpty();
            partialSums.forEach((name, g) -> assertClose(g, one.grads().get(name).toFloats(), name + " summed over ranks"));
        }
    }

    @Test
    void selfAttentionWithPaddingAndCausalMasks() {
        float[] bias = new float[B * T * T];
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < T; i++) {
                for (int j = 0; j < T; j++) {
                    boolean blocked = j > i || (b == 1 && j >= T - 2); // causal, and padding of sequence 1
                    bias[(b * T + i) * T + j] = blocked ? AttentionMask.BLOCKED : 0f;
                }
            }
        }
        check(tp -> TransformerPlan.attention(new MultiHeadAttention("attn", SPEC, false), tp), mod -> (x, mem, ctx) ->
                ((MultiHeadAttention) mod).forward(x, null, Ops.floats(ctx.manager(), bias, B, 1, T, T), ctx, null), false);
    }

    @Test
    void crossAttentionOverAPaddedMemory() {
        float[] bias = new float[B * TK];
        bias[2 * TK - 1] = AttentionMask.BLOCKED;
        check(tp -> TransformerPlan.attention(new MultiHeadAttention("cross", SPEC, true), tp), mod -> (x, mem, ctx) ->
                ((MultiHeadAttention) mod).forward(x, mem, Ops.floats(ctx.manager(), bias, B, 1, 1, TK), ctx, null), true);
    }

    @Test
    void feedForward() {
        check(tp -> TransformerPlan.feedForward(new FeedForward("mlp", SPEC), tp), mod -> (x, mem, ctx) -> ((FeedForward) mod).forward(x, ctx), false);
    }

    /**
     * LoRA adapters on every projection (all parameters random, B included, so the adapter path counts): column-parallel
     * layers' B and row-parallel layers' A get exactly their slice of the one-rank gradient, the replicated A
     * (column) and B (row) gradients sum to it, and the outputs and input gradients still sum to the one-rank ones.
     */
    @Test
    void loraAdaptersOnShardedLayers() {
        LayerSpec lora = new LayerSpec(16, 4, 0.2, true, true, 2, new LoraConfig(2, 4,
                List.of("attn.qkv", "attn.proj", "cross.q", "cross.kv", "cross.proj", "mlp.fc", "mlp.proj")));
        float[] bias = new float[B * TK];
        bias[2 * TK - 1] = AttentionMask.BLOCKED;
        check(tp -> TransformerPlan.attention(new MultiHeadAttention("attn", lora, false), tp), mod -> (x, mem, ctx) ->
                ((MultiHeadAttention) mod).forward(x, null, null, ctx, null), false);
        check(tp -> TransformerPlan.attention(new MultiHeadAttention("cross", lora, true), tp), mod -> (x, mem, ctx) ->
                ((MultiHeadAttention) mod).forward(x, mem, Ops.floats(ctx.manager(), bias, B, 1, 1, TK), ctx, null), true);
        check(tp -> TransformerPlan.feedForward(new FeedForward("mlp", lora), tp), mod -> (x, mem, ctx) -> ((FeedForward) mod).forward(x, ctx), false);
        MultiHeadAttention shard = TransformerPlan.attention(new MultiHeadAttention("attn", lora, false), new TpLayout(1, 2));
        Map<String, Parameter.Sharding.Kind> kinds = new LinkedHashMap<>();
        shard.parameters().forEach(p -> kinds.put(p.name(), p.sharding().kind()));
        assertThat(kinds).containsEntry("attn.qkv.lora_a", Parameter.Sharding.Kind.PARTIAL)
                .containsEntry("attn.qkv.lora_b", Parameter.Sharding.Kind.SLICE)
                .containsEntry("attn.proj.lora_a", Parameter.Sharding.Kind.SLICE)
                .containsEntry("attn.proj.lora_b", Parameter.Sharding.Kind.PARTIAL);
    }

    /** A row-parallel rank's A is initialised as its slice of the one-rank A (same seed, same names). */
    @Test
    void shardedAdapterInitIsTheSliceOfTheOneRankInit() {
        LayerSpec lora = new LayerSpec(16, 4, 0.0, true, true, 2, new LoraConfig(2, 4, List.of("mlp.fc", "mlp.proj")));
        try (ParameterStore full = new ParameterStore(new FeedForward("mlp", lora), root, 5)) {
            Map<String, HostTensor> one = full.toHost();
            for (int rank = 0; rank < 2; rank++) {
                try (ParameterStore s = new ParameterStore(TransformerPlan.feedForward(new FeedForward("mlp", lora), new TpLayout(rank, 2)), root, 5)) {
                    Map<String, HostTensor> want = TensorParallelState.slice(one, s.parameters(), "");
                    for (Map.Entry<String, HostTensor> e : s.toHost().entrySet()) {
                        assertThat(e.getValue().toFloats()).as("%s on rank %d", e.getKey(), rank)
                                .containsExactly(want.get(e.getKey()).toFloats());
                    }
                    assertThat(s.toHost().get("mlp.proj.lora_a").shape()).containsExactly(2, 32);
                }
            }
        }
    }

    /** Two layers as one module, on one rank of a tensor-parallel layout. */
    private static final class Stack extends Module {
        final List<TransformerLayer> layers = new ArrayList<>();

        Stack(LayerSpec spec, boolean cross, TpLayout tp) {
            super("");
            for (int i = 0; i < 2; i++) {
                layers.add(child(TransformerPlan.layer(new TransformerLayer("layers." + i, spec, i, cross), tp)));
            }
        }
    }

    /**
     * Whole layers: a BERT-like post-LN encoder stack and a T5-like pre-LN decoder stack (self-attention with a causal
     * + padding mask, cross-attention over a padded memory), dropout on. Running each rank's {@link
     * TransformerPlan#halves} and summing the ranks' outputs after every step (what the all-reduce at a segment
     * boundary does) gives the one-rank forward.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void layerStacksPostLnEncoderAndPreLnDecoder(boolean decoder) {
        LayerSpec spec = new LayerSpec(16, 4, 0.2, true, decoder, 2, LoraConfig.NONE);
        Random r = new Random(decoder ? 2 : 3);
        float[] x = gaussian(r, B * T * 16);
        float[] mem = gaussian(r, B * TK * 16);
        float[] selfBias = new float[B * T * T];
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < T; i++) {
                for (int j = 0; j < T; j++) {
                    boolean blocked = (decoder && j > i) || (!decoder && b == 1 && j >= T - 2);
                    selfBias[(b * T + i) * T + j] = blocked ? AttentionMask.BLOCKED : 0f;
                }
            }
        }
        float[] memBias = new float[B * TK];
        memBias[TK - 1] = AttentionMask.BLOCKED;
        Stack full = new Stack(spec, decoder, TpLayout.SINGLE);
        Stack[] shards = {new Stack(spec, decoder, new TpLayout(0, 2)), new Stack(spec, decoder, new TpLayout(1, 2))};
        JniUtils.setGradMode(false);
        try (ParameterStore fullStore = new ParameterStore(full, root, 3);
                ParameterStore s0 = new ParameterStore(shards[0], root, 0);
                ParameterStore s1 = new ParameterStore(shards[1], root, 0);
                NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            FloatBuffer v = fullStore.values();
            for (Parameter p : fullStore.parameters()) {
                boolean norm = p.name().contains("ln") && p.name().endsWith("weight");
                for (int i = 0; i < p.numel(); i++) {
                    v.put((int) p.offset() + i, (float) ((norm ? 1 : 0) + 0.3 * r.nextGaussian()));
                }
            }
            s0.load(TensorParallelState.slice(fullStore.toHost(), s0.parameters(), ""));
            s1.load(TensorParallelState.slice(fullStore.toHost(), s1.parameters(), ""));
            ForwardContext ctx = new ForwardContext(true, 7, m);
            PtNDArray sb = Ops.floats(m, selfBias, B, 1, T, T);
            PtNDArray memory = decoder ? Ops.floats(m, mem, B, TK, 16) : null;
            PtNDArray mb = decoder ? Ops.floats(m, memBias, B, 1, 1, TK) : null;
            PtNDArray h = Ops.floats(m, x, B, T, 16);
            for (TransformerLayer layer : full.layers) {
                h = layer.forward(h, sb, memory, mb, ctx, null, null);
            }
            float[] expected = h.toFloatArray();

            PtNDArray share = Ops.scalar(m, 0.5f);
            PtNDArray cur = Ops.floats(m, x, B, T, 16);
            int steps = 0;
            for (int l = 0; l < 2; l++) {
                List<List<TransformerPlan.Half>> halves = new ArrayList<>();
                for (Stack st : shards) {
                    LayerNorm before = l == 0 ? null : TransformerPlan.outputNorm(st.layers.get(l - 1));
                    halves.add(TransformerPlan.halves(st.layers.get(l), sb, memory, mb, share, before));
                }
                for (int k = 0; k < halves.get(0).size(); k++) {
                    PtNDArray a = halves.get(0).get(k).forward(cur, ctx);
                    PtNDArray b = halves.get(1).get(k).forward(cur, ctx);
                    cur = Ops.add(a, b); // the all-reduce
                    steps++;
                }
            }
            LayerNorm last = TransformerPlan.outputNorm(shards[0].layers.get(1));
            if (last != null) {
                cur = last.forward(cur);
            }
            assertThat(steps).isEqualTo(decoder ? 6 : 4);
            assertClose(cur.toFloatArray(), expected, (decoder ? "pre-LN decoder" : "post-LN encoder")
                    + ": sum over ranks after every step = one-rank forward");
        }
    }

    private static void add(float[] acc, float[] x) {
        for (int i = 0; i < acc.length; i++) {
            acc[i] += x[i];
        }
    }

    private static void assertClose(float[] actual, float[] expected, String what) {
        assertThat(actual.length).as(what).isEqualTo(expected.length);
        double worst = 0;
        double scale = 0;
        for (int i = 0; i < actual.length; i++) {
            worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        assertThat(scale).as("%s is not trivially zero", what).isGreaterThan(0);
        assertThat(worst).as(what).isLessThanOrEqualTo(1e-5 * (1 + scale));
    }

    private static float[] gaussian(Random r, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) r.nextGaussian();
        }
        return out;
    }
}
