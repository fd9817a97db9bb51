package io.megalith.core.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.tensor.HostTensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Int8WeightsTest {
    private static HostTensor gaussian(long seed, long... shape) {
        Random r = new Random(seed);
        float[] w = new float[(int) HostTensor.numel(shape)];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * 0.02);
        }
        return HostTensor.ofFloats(w, shape);
    }

    private static Map<String, HostTensor> stateDict() {
        Map<String, HostTensor> w = new LinkedHashMap<>();
        w.put("wte.weight", gaussian(1, 65, 64));
        w.put("blocks.0.ln1.weight", gaussian(2, 64));
        w.put("blocks.0.attn.qkv.weight", gaussian(3, 192, 64));
        w.put("blocks.0.attn.qkv.bias", gaussian(4, 192));
        w.put("blocks.0.mlp.fc.weight", gaussian(5, 256, 64));
        return w;
    }

    @Test
    void matricesBecomeInt8WithScalesAndVectorsStayFp32() {
        Map<String, HostTensor> q = Int8Weights.quantize(stateDict());
        assertThat(q.keySet()).containsExactly("wte.weight", "wte.weight_scale", "blocks.0.ln1.weight",
                "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.weight_scale", "blocks.0.attn.qkv.bias",
                "blocks.0.mlp.fc.weight", "blocks.0.mlp.fc.weight_scale");
        assertThat(q.get("blocks.0.attn.qkv.weight").dtype()).isEqualTo(HostTensor.DType.I8);
        assertThat(q.get("blocks.0.attn.qkv.weight_scale").shape()).containsExactly(192);
        assertThat(q.get("blocks.0.ln1.weight").contentEquals(stateDict().get("blocks.0.ln1.weight"))).isTrue();
        long int8 = q.values().stream().mapToLong(t -> t.data().remaining()).sum();
        // 1 byte per matrix weight + 4 per row's scale + the fp32 vectors (at 64 wide the scales still cost 6%)
        assertThat(int8).isEqualTo(65 * 64 + 4 * 65 + 4 * 64 + 192 * 64 + 4 * 192 + 4 * 192 + 256 * 64 + 4 * 256);
    }

    @Test
    void dequantizeGivesTheStateDictBackWithinHalfASteps() {
        Map<String, HostTensor> original = stateDict();
        Map<String, HostTensor> q = Int8Weights.quantize(original);
        Map<String, HostTensor> back = Int8Weights.dequantize(q);
        assertThat(back.keySet()).containsExactlyElementsOf(original.keySet());
        Int8Rows fc = Int8Weights.matrices(q).get("blocks.0.mlp.fc.weight");
        float[] a = original.get("blocks.0.mlp.fc.weight").toFloats();
        float[] b = back.get("blocks.0.mlp.fc.weight").toFloats();
        for (int i = 0; i < a.length; i++) {
            assertThat((double) Math.abs(a[i] - b[i])).isLessThanOrEqualTo(fc.scale()[i / 64] / 2 * (1 + 1e-5));
        }
    }

    @Test
    void aMatrixWithoutItsScalesIsRefused() {
        Map<String, HostTensor> q = Int8Weights.quantize(stateDict());
        q.remove("wte.weight_scale");
        assertThatThrownBy(() -> Int8Weights.matrices(q)).hasMessageContaining("wte.weight_scale");
    }
}
