package io.megalith.core.lora;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.bert.MlmMasking;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.ModuleTrainer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LoRA: a fresh adapter changes nothing; with the base frozen only adapter parameters change under training;
 * merging the adapters into the base weights (in place, or into a state dict loaded by the model built without
 * LoRA) gives the same outputs; a base checkpoint loads under adapters; freezing layers keeps them bit-identical.
 */
class LoraTest {
    private static final int VOCAB = 20;
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

    private static BertConfig base() {
        return new BertConfig(VOCAB, 12, 2, 2, 2, 16, 0.0, true, false, false, 0, LoraConfig.NONE);
    }

    private static final LoraConfig LORA = new LoraConfig(4, 8.0, List.of("attn.qkv", "attn.proj", "layers.1.mlp.fc"));

    @Test
    void targetsAndNames() {
        Bert bert = new Bert(base().withLora(LORA));
        List<String> adapters = bert.parameters().stream().map(Parameter::name).filter(Lora::isAdapter).toList();
        assertThat(adapters).containsExactlyInAnyOrder("layers.0.attn.qkv.lora_a", "layers.0.attn.qkv.lora_b",
                "layers.0.attn.proj.lora_a", "layers.0.attn.proj.lora_b", "layers.1.attn.qkv.lora_a",
                "layers.1.attn.qkv.lora_b", "layers.1.attn.proj.lora_a", "layers.1.attn.proj.lora_b",
                "layers.1.mlp.fc.lora_a", "layers.1.mlp.fc.lora_b");
        // base names are those of the model without LoRA
        List<String> plain = new Bert(base()).parameters().stream().map(Parameter::name).toList();
        assertThat(bert.parameters().stream().map(Parameter::name).filter(n -> !Lora.isAdapter(n)).toList())
                .containsExactlyInAnyOrderElementsOf(plain);
    }

    @Test
    void freshAdapterIsTheBaseLayer() {
        LoraLinear lora = new LoraLinear("fc", 16, 8, true, 0.5, new LoraConfig(4, 16, List.of("fc")));
        Linear plain = new Linear("fc", 16, 8, true, 0.5);
        try (ParameterStore a = new ParameterStore(lora, root, 3); ParameterStore b = new ParameterStore(plain, root, 3);
                NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            JniUtils.setGradMode(false);
            PtNDArray x = Ops.floats(m, gaussian(new Random(1), 5 * 16), 5, 16);
            assertThat(lora.forward(x).toFloatArray()).containsExactly(plain.forward(x).toFloatArray());
            float[] bValues = a.toHost().get("fc.lora_b").toFloats();
            assertThat(bValues).containsOnly(0f);
            assertThat(a.toHost().get("fc.lora_a").toFloats()).isNotEqualTo(new float[4 * 16]);
        }
    }

    /** LoRA fine-tuning: base frozen, adapters trained; then merge, and compare outputs. */
    @Test
    void onlyAdaptersTrainAndMergingPreservesOutputs() {
        // a "pre-trained" base checkpoint: the plain model's initial weights, re-drawn at a useful scale
        Bert plain = new Bert(base());
        Map<String, HostTensor> checkpoint;
        try (ParameterStore ps = new ParameterStore(plain, root, 5)) {
            FloatBuffer v = ps.values();
            Random r = new Random(5);
            for (int i = 0; i < ps.numel(); i++) {
                v.put(i, v.get(i) + (float) (0.05 * r.nextGaussian()));
            }
            checkpoint = ps.toHost();
        }
        Bert bert = new Bert(base().withLora(LORA));
        long[] ids = new Random(2).longs(4 * 10, 4, VOCAB).toArray();
        MlmMasking masking = new MlmMasking(VOCAB, 3, 0, 1, 2);
        try (ModuleTrainer trainer = new ModuleTrainer(bert, Lora.adaptersOnly(), root, 9,
                ModuleTrainer.Settings.of(1e-2, 30))) {
            ParameterStore store = trainer.store();
            Lora.loadBase(store, checkpoint);
            float[] before = outputs(bert, ids);
            assertThat(before).as("fresh adapters: the checkpoint's function").containsExactly(outputsOf(base(), checkpoint, ids));
            Map<String, HostTensor> start = store.toHost();
            long adapterElements = start.entrySet().stream().filter(e -> Lora.isAdapter(e.getKey()))
                    .mapToLong(e -> e.getValue().numel()).sum();
            assertThat(trainer.trainableElements()).isEqualTo(adapterElements);
            for (int step = 0; step < 30; step++) {
                MlmBatch batch = masking.batch(ids, null, null, 4, 10, CounterRng.key(1, step));
                trainer.step(step, ctx -> bert.pretrainingLoss(batch, ctx));
            }
            Map<String, HostTensor> end = store.toHost();
            for (String name : start.keySet()) {
                if (Lora.isAdapter(name)) {
                    assertThat(end.get(name).toFloats()).as("adapter %s trained", name)
                            .isNotEqualTo(start.get(name).toFloats());
                } else {
                    assertThat(end.get(name).toFloats()).as("frozen %s unchanged", name)
                            .containsExactly(start.get(name).toFloats());
                    assertThat(store.gradient(param(store, name))).as("frozen %s gets no gradient", name).isNull();
                }
            }
            float[] tuned = outputs(bert, ids);
            assertThat(maxDiff(tuned, before)).as("the adapters changed the function").isGreaterThan(1e-3);

            // only the adapters are saved; base + adapters merged load into the model without LoRA
            Map<String, HostTensor> adapters = Lora.adapterState(end);
            assertThat(adapters.keySet()).allMatch(Lora::isAdapter).hasSize(10);
            Map<String, HostTensor> withAdapters = new LinkedHashMap<>(checkpoint);
            withAdapters.putAll(adapters);
            Map<String, HostTensor> merged = Lora.merged(withAdapters, LORA.scale());
            assertThat(merged.keySet()).noneMatch(Lora::isAdapter);
            float[] mergedOut = outputsOf(base(), merged, ids);
            System.out.printf("LoRA: tuned vs merged max |diff| %.2e (the tuning moved outputs by %.2e)%n",
                    maxDiff(tuned, mergedOut), maxDiff(tuned, before));
            assertThat(maxDiff(tuned, mergedOut)).as("merged state dict = base + adapters").isLessThan(2e-4);

            // in place: W += s B A, B = 0
            Lora.mergeInPlace(bert);
            assertThat(maxDiff(outputs(bert, ids), tuned)).as("merged in place").isLessThan(2e-4);
            assertThat(store.toHost().get("layers.0.attn.qkv.lora_b").toFloats()).containsOnly(0f);
        }
    }

    /** Freezing the embeddings and layer 0: they stay bit-identical, the rest trains. */
    @Test
    void freezingLayers() {
        Bert bert = new Bert(base());
        Predicate<Parameter> trainable = p -> !p.name().startsWith("embeddings.")
                && !p.name().startsWith("layers.0.");
        long[] ids = new Random(3).longs(4 * 10, 4, VOCAB).toArray();
        MlmMasking masking = new MlmMasking(VOCAB, 3, 0, 1, 2);
        try (ModuleTrainer trainer = new ModuleTrainer(bert, trainable, root, 4, ModuleTrainer.Settings.of(1e-2, 10))) {
            Map<String, HostTensor> start = trainer.store().toHost();
            for (int step = 0; step < 10; step++) {
                MlmBatch batch = masking.batch(ids, null, null, 4, 10, CounterRng.key(2, step));
                trainer.step(step, ctx -> bert.pretrainingLoss(batch, ctx));
            }
            Map<String, HostTensor> end = trainer.store().toHost();
            int frozen = 0;
            for (Parameter p : bert.parameters()) {
                float[] a = start.get(p.name()).toFloats();
                float[] b = end.get(p.name()).toFloats();
                if (trainable.test(p)) {
                    if (!p.name().startsWith("pooler.")) { // the MLM loss does not read the pooler (no NSP here)
                        assertThat(b).as("%s trains", p.name()).isNotEqualTo(a);
                    }
                } else {
                    frozen++;
                    assertThat(b).as("%s frozen", p.name()).containsExactly(a);
                }
            }
            assertThat(frozen).isEqualTo(5 + 12); // word, position, segment, ln (w, b); layer 0: 6 weights + 6 biases
        }
    }

    private static Parameter param(ParameterStore s, String name) {
        return s.parameters().stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow();
    }

    private static float[] outputsOf(BertConfig cfg, Map<String, HostTensor> state, long[] ids) {
        Bert m = new Bert(cfg);
        try (ParameterStore s = new ParameterStore(m, root, 0)) {
            s.load(state);
            return outputs(m, ids);
        }
    }

    /** MLM logits and the pooled output, concatenated. */
    private static float[] outputs(Bert bert, long[] ids) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            PtNDArray h = bert.encode(Ops.longs(m, ids, 4, 10), null, null, ForwardContext.inference(m));
            float[] a = bert.mlmLogits(h).toFloatArray();
            float[] b = bert.pooled(h).toFloatArray();
            float[] out = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, out, a.length, b.length);
            return out;
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        double w = 0;
        for (int i = 0; i < a.length; i++) {
            w = Math.max(w, Math.abs(a[i] - b[i]));
        }
        return w;
    }

    private static float[] gaussian(Random r, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) r.nextGaussian();
        }
        return out;
    }
}
