package io.megalith.core.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.TensorParallelState;
import io.megalith.core.tensorparallel.TpLayout;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The encoder and encoder-decoder sub-layers under tensor parallelism, TP=2 vs one rank, with the one-rank
 * weights sliced onto the two ranks and dropout on: the ranks' outputs sum to the one-rank output (the forward
 * all-reduce), their input (and encoder-memory) gradients sum to the one-rank ones (the backward all-reduce),
 * sliced parameters get exactly their slice of the one-rank gradient and replicated partial ones sum to it.
 * This is what a segment-wise TP runner needs from the layers (as CausalSelfAttention and Mlp provide for the GPT).
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
        check(tp -> new MultiHeadAttention("attn", SPEC, false, tp), mod -> (x, mem, ctx) ->
                ((MultiHeadAttention) mod).forward(x, null, Ops.floats(ctx.manager(), bias, B, 1, T, T), ctx, null), false);
    }

    @Test
    void crossAttentionOverAPaddedMemory() {
        float[] bias = new float[B * TK];
        bias[2 * TK - 1] = AttentionMask.BLOCKED;
        check(tp -> new MultiHeadAttention("cross", SPEC, true, tp), mod -> (x, mem, ctx) ->
                ((MultiHeadAttention) mod).forward(x, mem, Ops.floats(ctx.manager(), bias, B, 1, 1, TK), ctx, null), true);
    }

    @Test
    void feedForward() {
        check(tp -> new FeedForward("mlp", SPEC, tp), mod -> (x, mem, ctx) -> ((FeedForward) mod).forward(x, ctx), false);
    }

    @Test
    void loraIsRefusedOnShardedLayers() {
        LayerSpec lora = new LayerSpec(16, 4, 0.0, true, true, 2, new LoraConfig(2, 4, List.of("attn.qkv")));
        assertThatThrownBy(() -> new MultiHeadAttention("attn", lora, false, new TpLayout(0, 2)))
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("attn.qkv");
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
