package io.megalith.core.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.quantize.GptDecoder;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * Removing heads and hidden units leaves a smaller dense GPT that computes exactly what the original computes with
 * those heads and units silenced (their value rows and output columns zeroed), and the least important go first.
 */
class StructuredPruningTest {
    private static final int VOCAB = 23;
    private static final GptConfig SHAPE = new GptConfig(VOCAB, 16, 2, 4, 32, 0.0, true);
    private static final long[] IDS = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};

    /** Logits [T, V] of {@code ids} under {@code weights} (null: draws them at std 0.2), and the weights. */
    private static Map.Entry<float[], Map<String, HostTensor>> logits(GptConfig cfg, Map<String, HostTensor> weights) {
        Torch.load(1);
        try (NDManager root = Torch.newManager()) {
            Gpt gpt = new Gpt(cfg);
            try (ParameterStore store = new ParameterStore(gpt, root, 5)) {
                gpt.initConstants(root);
                if (weights == null) {
                    Random r = new Random(11);
                    FloatBuffer values = store.values();
                    for (int i = 0; i < store.numel(); i++) {
                        values.put(i, (float) (0.2 * r.nextGaussian()));
                    }
                } else {
                    store.load(weights);
                }
                boolean grad = JniUtils.isGradMode();
                JniUtils.setGradMode(false);
                try (NDManager m = root.newSubManager()) {
                    float[] out = gpt.logits(Ops.longs(m, IDS, 1, IDS.length), ForwardContext.inference(m))
                            .toFloatArray();
                    return Map.entry(out, store.toHost());
                } finally {
                    JniUtils.setGradMode(grad);
                }
            }
        }
    }

    @Test
    void thePrunedModelIsTheOriginalWithThoseHeadsAndUnitsSilenced() {
        Map<String, HostTensor> w = logits(SHAPE, null).getValue();
        StructuredPruning.Result r = StructuredPruning.prune(SHAPE, w, 0.5, 0.25);
        assertThat(r.config().nHead()).isEqualTo(2);
        assertThat(r.config().headSize()).isEqualTo(8);
        assertThat(r.config().mlpHidden()).isEqualTo(96);
        assertThat(r.config().attentionWidth()).isEqualTo(16);
        assertThat(r.weights().get("blocks.1.attn.qkv.weight").shape()).containsExactly(48, 32);
        assertThat(r.weights().get("blocks.1.attn.proj.weight").shape()).containsExactly(32, 16);
        assertThat(r.weights().get("blocks.0.mlp.fc.bias").shape()).containsExactly(96);
        assertThat(r.weights().get("blocks.0.mlp.proj.weight").shape()).containsExactly(32, 96);

        Map<String, HostTensor> silenced = silence(w, r);
        float[] expected = logits(SHAPE, silenced).getKey();
        float[] pruned = logits(r.config(), r.weights()).getKey();
        assertThat(pruned).containsExactly(expected, org.assertj.core.data.Offset.offset(1e-5f));
        assertThat(pruned).isNotEqualTo(logits(SHAPE, w).getKey()); // silencing changed something

        // the batch-1 decoder runs the new shape too, token by token
        GptDecoder decoder = GptDecoder.fp32(r.config(), r.weights());
        for (int p = 0; p < IDS.length; p++) {
            float[] got = decoder.next((int) IDS[p]);
            for (int v = 0; v < VOCAB; v++) {
                assertThat((double) got[v]).isCloseTo(pruned[p * VOCAB + v], Offset.offset(1e-4));
            }
        }
        // its shape is read back from the weights, given the run's
        assertThat(StructuredPruning.shapeOf(SHAPE, r.weights())).isEqualTo(r.config());
        assertThat(StructuredPruning.shapeOf(SHAPE, w)).isEqualTo(SHAPE);
    }

    /** The original weights with the pruned heads' value rows and output columns, and the pruned units' fc rows, zero. */
    private static Map<String, HostTensor> silence(Map<String, HostTensor> w, StructuredPruning.Result r) {
        Map<String, HostTensor> out = new LinkedHashMap<>(w);
        int c = SHAPE.nEmbd();
        int a = SHAPE.attentionWidth();
        int hs = SHAPE.headSize();
        for (int l = 0; l < SHAPE.nLayer(); l++) {
            String p = "blocks." + l + ".";
            float[] qkv = w.get(p + "attn.qkv.weight").toFloats();
            float[] qkvBias = w.get(p + "attn.qkv.bias").toFloats();
            float[] proj = w.get(p + "attn.proj.weight").toFloats();
            for (int h = 0; h < SHAPE.nHead(); h++) {
                if (contains(r.keptHeads()[l], h)) {
                    continue;
                }
                for (int j = h * hs; j < (h + 1) * hs; j++) {
                    for (int i = 0; i < c; i++) {
                        qkv[(2 * a + j) * c + i] = 0;
                        proj[i * a + j] = 0;
                    }
                    qkvBias[2 * a + j] = 0;
                }
            }
            out.put(p + "attn.qkv.weight", HostTensor.ofFloats(qkv, 3L * a, c));
            out.put(p + "attn.qkv.bias", HostTensor.ofFloats(qkvBias, 3L * a));
            out.put(p + "attn.proj.weight", HostTensor.ofFloats(proj, c, a));
            int hidden = SHAPE.mlpHidden();
            float[] fc = w.get(p + "mlp.fc.weight").toFloats();
            float[] fcBias = w.get(p + "mlp.fc.bias").toFloats();
            for (int j = 0; j < hidden; j++) {
                if (!contains(r.keptUnits()[l], j)) {
                    for (int i = 0; i < c; i++) {
                        fc[j * c + i] = 0; // gelu(0) = 0: the unit adds nothing
                    }
                    fcBias[j] = 0;
                }
            }
            out.put(p + "mlp.fc.weight", HostTensor.ofFloats(fc, hidden, c));
            out.put(p + "mlp.fc.bias", HostTensor.ofFloats(fcBias, hidden));
        }
        return out;
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    @Test
    void theLeastImportantHeadsAndUnitsGoFirst() {
        Map<String, HostTensor> w = new LinkedHashMap<>(logits(SHAPE, null).getValue());
        int c = SHAPE.nEmbd();
        int a = SHAPE.attentionWidth();
        // block 0: head 2's value rows at a tenth, unit 7's output column at a tenth: the least important
        float[] qkv = w.get("blocks.0.attn.qkv.weight").toFloats();
        for (int i = (2 * a + 2 * SHAPE.headSize()) * c; i < (2 * a + 3 * SHAPE.headSize()) * c; i++) {
            qkv[i] *= 0.1f;
        }
        w.put("blocks.0.attn.qkv.weight", HostTensor.ofFloats(qkv, 3L * a, c));
        float[] down = w.get("blocks.0.mlp.proj.weight").toFloats();
        for (int i = 0; i < c; i++) {
            down[i * SHAPE.mlpHidden() + 7] *= 0.1f;
        }
        w.put("blocks.0.mlp.proj.weight", HostTensor.ofFloats(down, c, SHAPE.mlpHidden()));
        StructuredPruning.Result r = StructuredPruning.prune(SHAPE, w, 0.25, 1.0 / 128);
        assertThat(r.keptHeads()[0]).containsExactly(0, 1, 3);
        assertThat(r.keptUnits()[0]).hasSize(127).doesNotContain(7);
        assertThat(r.keptHeads()[1]).hasSize(3).isSorted();
        // nothing removed: the same weights
        StructuredPruning.Result none = StructuredPruning.prune(SHAPE, w, 0, 0);
        assertThat(none.config()).isEqualTo(SHAPE);
        none.weights().forEach((n, t) -> assertThat(t.contentEquals(w.get(n))).as(n).isTrue());
        assertThat(StructuredPruning.top(new double[] {1, 3, 3, 2}, 2)).containsExactly(1, 2);
    }

    @Test
    void badRequestsAreRefused() {
        Map<String, HostTensor> w = logits(SHAPE, null).getValue();
        assertThatThrownBy(() -> StructuredPruning.prune(SHAPE, w, 1.0, 0)).hasMessageContaining("[0, 1)");
        assertThat(StructuredPruning.prune(SHAPE, w, 0.9, 0.999).config().nHead()).isEqualTo(1); // at least one kept
        Map<String, HostTensor> lora = new LinkedHashMap<>(w);
        lora.put("blocks.0.attn.qkv.lora_a", HostTensor.ofFloats(new float[4], 2, 2));
        assertThatThrownBy(() -> StructuredPruning.prune(SHAPE, lora, 0.5, 0)).hasMessageContaining("LoRA");
        Map<String, HostTensor> uneven = new LinkedHashMap<>(StructuredPruning.prune(SHAPE, w, 0.5, 0).weights());
        uneven.put("blocks.1.attn.qkv.weight", w.get("blocks.1.attn.qkv.weight"));
        assertThatThrownBy(() -> StructuredPruning.shapeOf(SHAPE, uneven)).hasMessageContaining("block 1");
    }
}
