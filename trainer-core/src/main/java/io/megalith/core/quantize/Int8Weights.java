package io.megalith.core.quantize;

import io.megalith.core.tensor.HostTensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A model's weights (a state dict: name to tensor) quantized to int8 for inference: every 2-D fp32 matrix (Linear
 * weights [out, in], embedding tables [rows, C]) as {@link Int8Rows}, stored as the I8 tensor under its own name and
 * its scales under {@code name + "_scale"} (compressed-tensors' naming); vectors (biases, norm gains) stay fp32, being a
 * sliver of the bytes and sensitive to rounding.
 */
public final class Int8Weights {
    /** The suffix of a matrix's per-row scales. */
    public static final String SCALE = "_scale";

    private Int8Weights() {}

    /** The safetensors tensors of {@code weights} quantized, in their order (each matrix followed by its scales). */
    public static Map<String, HostTensor> quantize(Map<String, HostTensor> weights) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : weights.entrySet()) {
            HostTensor t = e.getValue();
            if (e.getKey().endsWith(SCALE)) {
                throw new IllegalArgumentException(e.getKey() + ": a weight's name must not end in " + SCALE);
            }
            if (t.dtype() == HostTensor.DType.F32 && t.shape().length == 2) {
                long[] s = t.shape();
                Int8Rows q = Int8Rows.quantize(t.toFloats(), (int) s[0], (int) s[1]);
                out.put(e.getKey(), q.values());
                out.put(e.getKey() + SCALE, q.scales());
            } else {
                out.put(e.getKey(), t);
            }
        }
        return out;
    }

    /** The int8 matrices of a quantized file by name (each with its scales). */
    public static Map<String, Int8Rows> matrices(Map<String, HostTensor> quantized) {
        Map<String, Int8Rows> out = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : quantized.entrySet()) {
            if (e.getValue().dtype() == HostTensor.DType.I8) {
                HostTensor scales = quantized.get(e.getKey() + SCALE);
                if (scales == null) {
                    throw new IllegalArgumentException(e.getKey() + " is int8 but " + e.getKey() + SCALE
                            + " (its scales) is missing");
                }
                out.put(e.getKey(), Int8Rows.of(e.getValue(), scales));
            }
        }
        return out;
    }

    /**
     * The fp32 state dict a quantized file stands for (each matrix dequantised, the rest as stored): for evaluating
     * the quantized model's loss on the training path; decoding computes from the int8 values instead.
     */
    public static Map<String, HostTensor> dequantize(Map<String, HostTensor> quantized) {
        Map<String, Int8Rows> matrices = matrices(quantized);
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : quantized.entrySet()) {
            Int8Rows m = matrices.get(e.getKey());
            if (m != null) {
                out.put(e.getKey(), HostTensor.ofFloats(m.dequantize(), m.rows(), m.cols()));
            } else if (!(e.getKey().endsWith(SCALE) && matrices.containsKey(
                    e.getKey().substring(0, e.getKey().length() - SCALE.length())))) {
                out.put(e.getKey(), e.getValue());
            }
        }
        return out;
    }
}
