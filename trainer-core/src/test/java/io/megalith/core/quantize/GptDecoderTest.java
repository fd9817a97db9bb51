package io.megalith.core.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The Java batch-1 decoder computes the GPT's logits: token by token with its cache, as the model does in one pass. */
class GptDecoderTest {
    private static final int VOCAB = 29;
    private static final int BLOCK = 24;

    /** The model's logits [T, V] of one sequence in one pass, and its state dict (weights drawn at std 0.2). */
    private record Reference(float[] logits, Map<String, HostTensor> weights) {}

    private static Reference reference(GptConfig cfg, long[] ids, Map<String, HostTensor> load) {
        Torch.load(1);
        try (NDManager root = Torch.newManager()) {
            Gpt gpt = new Gpt(cfg);
            try (ParameterStore store = new ParameterStore(gpt, root, 5)) {
                gpt.initConstants(root);
                if (load == null) {
                    Random r = new Random(3);
                    FloatBuffer values = store.values();
                    for (int i = 0; i < store.numel(); i++) {
                        values.put(i, (float) (0.2 * r.nextGaussian()));
                    }
                } else {
                    store.load(load);
                }
                boolean grad = JniUtils.isGradMode();
                JniUtils.setGradMode(false);
                try (NDManager m = root.newSubManager()) {
                    float[] logits = gpt.logits(Ops.longs(m, ids, 1, ids.length), ForwardContext.inference(m))
                            .toFloatArray();
                    return new Reference(logits, store.toHost());
                } finally {
                    JniUtils.setGradMode(grad);
                }
            }
        }
    }

    private static long[] tokens(int n) {
        Random r = new Random(n);
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(VOCAB);
        }
        return ids;
    }

    private static void assertDecodes(GptDecoder decoder, long[] ids, float[] expected, double tolerance) {
        decoder.reset();
        for (int p = 0; p < ids.length; p++) {
            float[] got = decoder.next((int) ids[p]);
            for (int v = 0; v < VOCAB; v++) {
                assertThat((double) got[v]).as("position %d token %d", p, v)
                        .isCloseTo(expected[p * VOCAB + v], Offset.offset(tolerance));
            }
        }
        assertThat(decoder.length()).isEqualTo(ids.length);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void fp32DecodingEqualsTheModelsOnePass(boolean bias) {
        GptConfig cfg = new GptConfig(VOCAB, BLOCK, 2, 4, 32, 0.0, bias);
        long[] ids = tokens(BLOCK);
        Reference ref = reference(cfg, ids, null);
        assertDecodes(GptDecoder.fp32(cfg, ref.weights()), ids, ref.logits(), 1e-4);
    }

    @Test
    void int8DecodingEqualsTheModelWithTheDequantisedWeights() {
        GptConfig cfg = new GptConfig(VOCAB, BLOCK, 2, 4, 32, 0.0, true);
        long[] ids = tokens(BLOCK - 3);
        Map<String, HostTensor> quantized = Int8Weights.quantize(reference(cfg, ids, null).weights());
        Reference dequantized = reference(cfg, ids, Int8Weights.dequantize(quantized));
        assertDecodes(GptDecoder.int8(cfg, quantized), ids, dequantized.logits(), 1e-4);
        // and the quantization changed the model measurably (the comparison above is not fp32 against itself)
        Reference original = reference(cfg, ids, null);
        double moved = 0;
        for (int i = 0; i < original.logits().length; i++) {
            moved = Math.max(moved, Math.abs(original.logits()[i] - dequantized.logits()[i]));
        }
        assertThat(moved).isGreaterThan(1e-3);
    }

    @Test
    void refusesWeightsThatDoNotFitTheConfigAndAFullSequence() {
        GptConfig cfg = new GptConfig(VOCAB, BLOCK, 1, 2, 16, 0.0, true);
        Map<String, HostTensor> weights = reference(cfg, tokens(3), null).weights();
        assertThatThrownBy(() -> GptDecoder.fp32(new GptConfig(VOCAB + 1, BLOCK, 1, 2, 16, 0.0, true), weights))
                .hasMessageContaining("wte.weight is [29, 16], the config says [30, 16]");
        GptDecoder decoder = GptDecoder.fp32(cfg, weights);
        for (int p = 0; p < BLOCK; p++) {
            decoder.next(1);
        }
        assertThatThrownBy(() -> decoder.next(1)).hasMessageContaining("block_size 24");
    }

    @Test
    void erfMatchesKnownValues() {
        assertThat(GptDecoder.erf(0.5)).isCloseTo(0.5204998778130465, Offset.offset(2e-7));
        assertThat(GptDecoder.erf(1.0)).isCloseTo(0.8427007929497149, Offset.offset(2e-7));
        assertThat(GptDecoder.erf(-2.0)).isCloseTo(-0.9953222650189527, Offset.offset(2e-7));
        assertThat(GptDecoder.erf(0.0)).isCloseTo(0.0, Offset.offset(2e-7));
    }
}
