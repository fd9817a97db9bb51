package io.megalith.core.lora;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.ModuleTrainer;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LoRA on the GPT (adapters inside the blocks' attention and feed-forward): without a targeting config the model is the
 * plain GPT (names, layout, init, logits); a fresh adapter computes the base model; with the base frozen only
 * adapters change; merged weights (state dict or in place) give the logits of base + adapters.
 */
class GptLoraTest {
    private static final GptConfig CFG = new GptConfig(17, 12, 2, 2, 16, 0.0, true);
    private static final LoraConfig LORA = new LoraConfig(4, 8.0, List.of("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"));
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

    @Test
    void withoutLoraTheGptIsUnchanged() {
        Gpt plain = new Gpt(CFG);
        Gpt none = new Gpt(CFG, LoraConfig.NONE);
        Gpt untargeted = new Gpt(CFG, new LoraConfig(4, 8, List.of("no.such.layer")));
        List<String> names = plain.parameters().stream().map(Parameter::name).toList();
        assertThat(none.parameters().stream().map(Parameter::name).toList()).isEqualTo(names);
        assertThat(untargeted.parameters().stream().map(Parameter::name).toList()).isEqualTo(names);
        long[] ids = new Random(1).longs(2 * 12, 0, 17).toArray();
        assertThat(logits(none, 3, ids)).containsExactly(logits(plain, 3, ids));
        assertThat(loss(none, 3, ids)).isEqualTo(loss(plain, 3, ids));
    }

    @Test
    void adapterNamesAndFreshAdapterIsTheBase() {
        Gpt lora = new Gpt(CFG, LORA);
        List<String> adapters = lora.parameters().stream().map(Parameter::name).filter(Lora::isAdapter).toList();
        assertThat(adapters).hasSize(2 * 4 * 2).contains("blocks.0.attn.qkv.lora_a", "blocks.1.mlp.proj.lora_b");
        Map<String, HostTensor> base = state(new Gpt(CFG), 7);
        long[] ids = new Random(2).longs(2 * 12, 0, 17).toArray();
        Gpt model = new Gpt(CFG, LORA);
        try (ParameterStore s = new ParameterStore(model, root, 9)) {
            model.initConstants(s.manager());
            Lora.loadBase(s, base);
            assertThat(logitsOf(model, ids)).containsExactly(logitsOf(base, ids));
        }
    }

    @Test
    void onlyAdaptersTrainAndMergedWeightsGiveTheSameLogits() {
        Map<String, HostTensor> base = state(new Gpt(CFG), 7);
        Gpt model = new Gpt(CFG, LORA);
        long[] ids = new Random(3).longs(4 * 12, 0, 17).toArray();
        long[] targets = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            targets[i] = i % 3 == 0 ? -1 : (ids[i] * 5 + 1) % 17; // a learnable map, some positions ignored
        }
        try (ModuleTrainer t = new ModuleTrainer(model, Lora.adaptersOnly(), root, 11, ModuleTrainer.Settings.of(1e-2, 20))) {
            model.initConstants(t.store().manager());
            Lora.loadBase(t.store(), base);
            Map<String, HostTensor> start = t.store().toHost();
            double first = 0;
            double last = 0;
            for (int step = 0; step < 20; step++) {
                double l = t.step(step, ctx -> model.loss(Ops.longs(ctx.manager(), ids, 4, 12),
                        Targets.of(ctx.manager(), targets), ctx));
                first = step == 0 ? l : first;
                last = l;
            }
            assertThat(last).isLessThan(first);
            Map<String, HostTensor> end = t.store().toHost();
            for (String name : start.keySet()) {
                if (Lora.isAdapter(name)) {
                    if (name.endsWith(LoraLinear.B)) {
                        assertThat(end.get(name).toFloats()).as("%s trained", name).isNotEqualTo(start.get(name).toFloats());
                    }
                } else {
                    assertThat(end.get(name).toFloats()).as("%s frozen", name).containsExactly(start.get(name).toFloats());
                }
            }
            float[] tuned = logitsOf(model, ids);
            assertThat(maxDiff(tuned, logitsOf(base, ids))).isGreaterThan(1e-3);
            Map<String, HostTensor> withAdapters = new LinkedHashMap<>(base);
            withAdapters.putAll(Lora.adapterState(end));
            Map<String, HostTensor> merged = Lora.merged(withAdapters, LORA.scale());
            assertThat(merged.keySet()).noneMatch(Lora::isAdapter)
                    .containsExactlyInAnyOrderElementsOf(base.keySet());
            assertThat(maxDiff(logitsOf(merged, ids), tuned)).as("merged = base + adapters").isLessThan(2e-4);
            Lora.mergeInPlace(model);
            assertThat(maxDiff(logitsOf(model, ids), tuned)).as("merged in place").isLessThan(2e-4);
        }
    }

    private static Map<String, HostTensor> state(Gpt gpt, long seed) {
        try (ParameterStore s = new ParameterStore(gpt, root, seed)) {
            FloatBuffer v = s.values();
            Random r = new Random(seed);
            for (int i = 0; i < s.numel(); i++) {
                v.put(i, v.get(i) + (float) (0.05 * r.nextGaussian())); // non-zero biases, a "trained" base
            }
            return s.toHost();
        }
    }

    private static float[] logitsOf(Map<String, HostTensor> state, long[] ids) {
        Gpt m = new Gpt(CFG);
        try (ParameterStore s = new ParameterStore(m, root, 0)) {
            s.load(state);
            m.initConstants(s.manager());
            return logitsOf(m, ids);
        }
    }

    private static float[] logits(Gpt m, long seed, long[] ids) {
        try (ParameterStore s = new ParameterStore(m, root, seed)) {
            m.initConstants(s.manager());
            return logitsOf(m, ids);
        }
    }

    private static float loss(Gpt m, long seed, long[] ids) {
        try (ParameterStore s = new ParameterStore(m, root, seed)) {
            m.initConstants(s.manager());
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager mm = root.newSubManager()) {
                long[] t = new long[ids.length];
                for (int i = 0; i < t.length; i++) {
                    t[i] = ids[(i + 1) % ids.length];
                }
                return model(m).loss(Ops.longs(mm, ids, ids.length / 12, 12), Targets.of(mm, t),
                        ForwardContext.inference(mm)).getFloat();
            }
        }
    }

    private static Gpt model(Gpt m) {
        return m;
    }

    private static float[] logitsOf(Gpt m, long[] ids) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager mm = root.newSubManager()) {
            return m.logits(Ops.longs(mm, ids, ids.length / 12, 12), ForwardContext.inference(mm)).toFloatArray();
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        double w = 0;
        for (int i = 0; i < a.length; i++) {
            w = Math.max(w, Math.abs(a[i] - b[i]));
        }
        return w;
    }
}
