package io.megalith.core.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ParameterStoreTest {
    /** Small enough to be fast, large enough for init statistics (qkv has 3 * 64 * 64 elements). */
    private static final GptConfig CFG = new GptConfig(97, 32, 2, 4, 64, 0.0, true);
    private static NDManager root;

    @BeforeAll
    static void loadTorch() {
        Torch.load(1);
        root = Torch.newManager();
    }

    @AfterAll
    static void closeManager() {
        root.close();
    }

    @Test
    void namesAreHierarchicalAndStable() {
        Gpt gpt = new Gpt(CFG);
        List<String> declared = names(gpt.parameters());
        assertThat(declared).containsExactly(
                "wte.weight", "wpe.weight",
                "blocks.0.ln1.weight", "blocks.0.ln1.bias",
                "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
                "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias",
                "blocks.0.ln2.weight", "blocks.0.ln2.bias",
                "blocks.0.mlp.fc.weight", "blocks.0.mlp.fc.bias",
                "blocks.0.mlp.proj.weight", "blocks.0.mlp.proj.bias",
                "blocks.1.ln1.weight", "blocks.1.ln1.bias",
                "blocks.1.attn.qkv.weight", "blocks.1.attn.qkv.bias",
                "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias",
                "blocks.1.ln2.weight", "blocks.1.ln2.bias",
                "blocks.1.mlp.fc.weight", "blocks.1.mlp.fc.bias",
                "blocks.1.mlp.proj.weight", "blocks.1.mlp.proj.bias",
                "ln_f.weight", "ln_f.bias");
        assertThat(names(new Gpt(CFG).parameters())).as("a second construction").isEqualTo(declared);

        List<String> withoutBias = names(new Gpt(new GptConfig(97, 32, 2, 4, 64, 0.0, false)).parameters());
        assertThat(withoutBias).noneMatch(n -> n.endsWith(".bias")).contains("ln_f.weight", "blocks.1.mlp.proj.weight");
        assertThat(withoutBias).hasSize(2 + 2 * 6 + 1);

        try (ParameterStore store = new ParameterStore(gpt, root, 1)) {
            assertThat(store.toHost().keySet()).containsExactlyElementsOf(names(store.parameters()));
            assertThat(store.toHost().get("blocks.0.attn.qkv.weight").shape()).containsExactly(3 * 64, 64);
            assertThat(store.toHost().get("blocks.1.mlp.fc.weight").shape()).containsExactly(4 * 64, 64);
            assertThat(store.toHost().get("blocks.1.mlp.proj.weight").shape()).containsExactly(64, 4 * 64);
            assertThat(store.toHost().get("wte.weight").shape()).containsExactly(97, 64);
            assertThat(store.toHost().get("wpe.weight").shape()).containsExactly(32, 64);
        }
    }

    @Test
    void decayParametersComeFirstAndAreExactlyTheMatmulWeights() {
        Gpt gpt = new Gpt(CFG);
        try (ParameterStore store = new ParameterStore(gpt, root, 1)) {
            List<Parameter> ps = store.parameters();
            List<String> decay = new ArrayList<>();
            long decayNumel = 0;
            boolean seenNoDecay = false;
            long offset = 0;
            for (Parameter p : ps) {
                assertThat(p.offset()).as("%s is packed right after its predecessor", p.name()).isEqualTo(offset);
                offset += p.numel();
                if (p.decay()) {
                    assertThat(seenNoDecay).as("%s after a no-decay parameter", p.name()).isFalse();
                    decay.add(p.name());
                    decayNumel += p.numel();
                } else {
                    seenNoDecay = true;
                }
            }
            assertThat(offset).isEqualTo(store.numel());
            assertThat(store.decayElements()).isEqualTo(decayNumel);
            assertThat(decay).containsExactly(
                    "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "blocks.0.mlp.fc.weight",
                    "blocks.0.mlp.proj.weight",
                    "blocks.1.attn.qkv.weight", "blocks.1.attn.proj.weight", "blocks.1.mlp.fc.weight",
                    "blocks.1.mlp.proj.weight");
            // the rest keeps declaration order: embeddings, norms, biases
            assertThat(names(ps.subList(decay.size(), ps.size()))).startsWith("wte.weight", "wpe.weight",
                    "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.attn.qkv.bias");
            assertThat(store.numel()).isEqualTo(gpt.parameters().stream().mapToLong(Parameter::numel).sum());
        }
    }

    @Test
    void parametersAreViewsOfTheFlatBuffer() {
        Gpt gpt = new Gpt(CFG);
        try (ParameterStore store = new ParameterStore(gpt, root, 1)) {
            Parameter p = byName(store, "blocks.1.attn.proj.bias");
            FloatBuffer values = store.values();
            values.put((int) p.offset() + 3, 42.5f);
            assertThat(p.value().toFloatArray()[3]).isEqualTo(42.5f);
            assertThat(store.flat().toFloatArray()[(int) p.offset() + 3]).isEqualTo(42.5f);
            assertThat(p.value().getShape().getShape()).containsExactly(64);
        }
    }

    @Test
    void initStatisticsFollowNanoGpt() {
        Gpt gpt = new Gpt(CFG);
        try (ParameterStore store = new ParameterStore(gpt, root, 1337)) {
            Map<String, HostTensor> state = store.toHost();
            double residual = 0.02 / Math.sqrt(2.0 * CFG.nLayer());
            for (Map.Entry<String, HostTensor> e : state.entrySet()) {
                String name = e.getKey();
                float[] v = e.getValue().toFloats();
                if (name.endsWith("attn.proj.weight") || name.endsWith("mlp.proj.weight")) {
                    assertStd(name, v, residual);
                } else if (name.endsWith("qkv.weight") || name.endsWith("fc.weight") || name.startsWith("wte")
                        || name.startsWith("wpe")) {
                    assertStd(name, v, 0.02);
                } else if (name.endsWith(".bias")) {
                    assertThat(v).as(name).containsOnly(0f);
                } else {
                    assertThat(name).matches(".*(ln1|ln2|ln_f)\\.weight");
                    assertThat(v).as(name).containsOnly(1f);
                }
            }
        }
    }

    private static void assertStd(String name, float[] v, double expected) {
        double sum = 0;
        double sq = 0;
        for (float x : v) {
            sum += x;
            sq += (double) x * x;
        }
        double mean = sum / v.length;
        double std = Math.sqrt(sq / v.length - mean * mean);
        // at n >= 2048 elements the sample std is within ~3% of the true one (2 sigma); 6% is a wide margin
        assertThat(std).as("std of %s (%d elements)", name, v.length).isCloseTo(expected, within(0.06 * expected));
        assertThat(Math.abs(mean)).as("mean of %s", name).isLessThan(4 * expected / Math.sqrt(v.length));
    }

    @Test
    void initIsAFunctionOfTheSeed() {
        Map<String, HostTensor> a = initialState(1337);
        Map<String, HostTensor> b = initialState(1337);
        Map<String, HostTensor> c = initialState(1338);
        for (String name : a.keySet()) {
            assertThat(a.get(name).contentEquals(b.get(name))).as("same seed, %s", name).isTrue();
            boolean random = !name.endsWith(".bias") && !name.contains("ln");
            assertThat(a.get(name).contentEquals(c.get(name))).as("other seed, %s", name).isEqualTo(!random);
        }
        // parameters of the same shape do not share values (each is keyed by its name)
        assertThat(a.get("blocks.0.attn.qkv.weight").contentEquals(a.get("blocks.1.attn.qkv.weight"))).isFalse();
    }

    private static Map<String, HostTensor> initialState(long seed) {
        try (ParameterStore store = new ParameterStore(new Gpt(CFG), root, seed)) {
            return store.toHost();
        }
    }

    @Test
    void toHostAndLoadRoundTrip() {
        Gpt gpt = new Gpt(CFG);
        try (ParameterStore store = new ParameterStore(gpt, root, 7);
                ParameterStore other = new ParameterStore(new Gpt(CFG), root, 8)) {
            Map<String, HostTensor> saved = store.toHost();
            float[] before = store.flat().toFloatArray();
            // toHost is a copy: later writes to the model do not change it
            FloatBuffer values = store.values();
            for (int i = 0; i < values.limit(); i++) {
                values.put(i, values.get(i) + 1f);
            }
            assertThat(saved.get("wte.weight").toFloats()[0]).isEqualTo(before[(int) byName(store, "wte.weight").offset()]);

            store.load(saved);
            assertThat(store.flat().toFloatArray()).containsExactly(before);
            other.load(saved);
            assertThat(other.flat().toFloatArray()).containsExactly(before);
            Map<String, HostTensor> again = other.toHost();
            for (String name : saved.keySet()) {
                assertThat(again.get(name).contentEquals(saved.get(name))).as(name).isTrue();
            }

            Map<String, HostTensor> missing = new LinkedHashMap<>(saved);
            missing.remove("ln_f.bias");
            assertThatThrownBy(() -> store.load(missing)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("ln_f.bias");
            Map<String, HostTensor> misshapen = new LinkedHashMap<>(saved);
            misshapen.put("ln_f.weight", HostTensor.ofFloats(new float[64], 8, 8));
            assertThatThrownBy(() -> store.load(misshapen)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("ln_f.weight");
        }
    }

    @Test
    void copyGradientsEqualsPerParameterGradients() {
        GptConfig cfg = new GptConfig(31, 16, 2, 2, 32, 0.0, true);
        Gpt gpt = new Gpt(cfg);
        try (ParameterStore store = new ParameterStore(gpt, root, 3)) {
            gpt.initConstants(root);
            int n = (int) store.numel();
            FloatBuffer flat = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();

            // before any backward: zeros, no failure
            flat.put(0, 5f);
            store.copyGradients(flat);
            assertThat(toArray(flat)).containsOnly(0f);

            backward(gpt, cfg, 1);
            float[] first = checkAgainstParameters(store, flat);
            assertThat(l2(first)).isGreaterThan(0);
            float[] wpe = slice(first, byName(store, "wpe.weight"));
            int c = cfg.nEmbd();
            assertThat(Arrays.copyOfRange(wpe, 8 * c, 16 * c)).as("positions beyond T=8 get no gradient")
                    .containsOnly(0f);
            assertThat(l2(Arrays.copyOfRange(wpe, 7 * c, 8 * c))).as("position 7 does").isGreaterThan(0);

            // gradients accumulate across backwards until zeroed
            backward(gpt, cfg, 2);
            float[] sum = checkAgainstParameters(store, flat);
            store.zeroGradients();
            store.copyGradients(flat);
            assertThat(toArray(flat)).containsOnly(0f);
            backward(gpt, cfg, 2);
            float[] second = checkAgainstParameters(store, flat);
            assertThat(second).isNotEqualTo(first);
            for (int i = 0; i < n; i++) {
                assertThat(sum[i]).isCloseTo(first[i] + second[i], within(1e-6f + 1e-5f * Math.abs(sum[i])));
            }
            store.zeroGradients();
        }
    }

    /** copyGradients into a buffer with a non-zero position writes the aligned region only. */
    @Test
    void copyGradientsRespectsTheBufferPosition() {
        GptConfig cfg = new GptConfig(31, 16, 1, 2, 32, 0.0, false);
        Gpt gpt = new Gpt(cfg);
        try (ParameterStore store = new ParameterStore(gpt, root, 3)) {
            gpt.initConstants(root);
            int n = (int) store.numel();
            backward(gpt, cfg, 4);
            FloatBuffer plain = FloatBuffer.allocate(n);
            store.copyGradients(plain);
            FloatBuffer padded = FloatBuffer.allocate(n + 10);
            for (int i = 0; i < n + 10; i++) {
                padded.put(i, -1f);
            }
            padded.position(5).limit(n + 5);
            store.copyGradients(padded);
            assertThat(padded.position()).as("position untouched").isEqualTo(5);
            padded.clear();
            assertThat(padded.get(4)).isEqualTo(-1f);
            assertThat(padded.get(n + 5)).isEqualTo(-1f);
            for (int i = 0; i < n; i++) {
                assertThat(padded.get(5 + i)).isEqualTo(plain.get(i));
            }
            assertThatThrownBy(() -> store.copyGradients(FloatBuffer.allocate(n - 1)))
                    .isInstanceOf(IllegalArgumentException.class);
            store.zeroGradients();
        }
    }

    /** Copies gradients and checks each slice against the parameter's gradient, both via the store and fresh. */
    private static float[] checkAgainstParameters(ParameterStore store, FloatBuffer flat) {
        store.copyGradients(flat);
        float[] all = toArray(flat);
        try (NDScope scope = new NDScope()) {
            for (Parameter p : store.parameters()) {
                float[] viaStore = store.gradient(p).toFloatArray();
                float[] fresh = JniUtils.getGradient(p.value()).toFloatArray();
                assertThat(slice(all, p)).as(p.name()).containsExactly(viaStore);
                assertThat(viaStore).as(p.name()).containsExactly(fresh);
            }
        }
        return all;
    }

    private static void backward(Gpt gpt, GptConfig cfg, long seed) {
        int b = 2;
        int t = 8;
        Random r = new Random(seed);
        long[] ids = new long[b * t];
        long[] targets = new long[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(cfg.vocabSize());
            targets[i] = r.nextInt(cfg.vocabSize());
        }
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            JniUtils.setGradMode(true);
            PtNDArray loss;
            try {
                loss = gpt.loss(Ops.longs(m, ids, b, t), Targets.of(m, targets), new ForwardContext(true, seed, m));
            } finally {
                JniUtils.setGradMode(false);
            }
            JniUtils.backward(loss, Ops.scalar(m, 1f), false, false);
        }
    }

    private static float[] slice(float[] all, Parameter p) {
        float[] out = new float[(int) p.numel()];
        System.arraycopy(all, (int) p.offset(), out, 0, out.length);
        return out;
    }

    private static float[] toArray(FloatBuffer b) {
        float[] out = new float[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    private static double l2(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    private static Parameter byName(ParameterStore store, String name) {
        return store.parameters().stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow();
    }

    private static List<String> names(List<Parameter> ps) {
        return ps.stream().map(Parameter::name).toList();
    }
}
