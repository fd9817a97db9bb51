package io.megalith.core.prune;

import io.megalith.core.tensor.HostTensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Unstructured magnitude masks. What is pruned: the 2-D weights of a model's transformer layers (attention and MLP
 * projections: tensors named {@code ...blocks.i.*.weight} or {@code ...layers.i.*.weight}); embeddings, norms, biases,
 * heads and LoRA adapters stay whole, as in Zhu and Gupta's and most pruning work, since they are small or shared.
 * Which elements: in each tensor on its own (the same sparsity per layer), the {@code round(s n)} of smallest
 * magnitude, ties broken by index, so that the mask depends only on the whole tensor's values: every layout that
 * gathers the same tensor cuts the same mask.
 */
public final class MagnitudeMask {
    private static final Pattern LAYER = Pattern.compile("(^|\\.)(blocks|layers)\\.\\d+\\.");

    private MagnitudeMask() {}

    /** Whether the tensor {@code name} of shape {@code shape} is pruned. */
    public static boolean prunable(String name, long[] shape) {
        return shape.length == 2 && name.endsWith(".weight") && !name.contains("lora_") && LAYER.matcher(name).find();
    }

    /** The mask (1 kept, 0 pruned) zeroing the {@code round(sparsity n)} smallest magnitudes of {@code w}. */
    public static float[] of(float[] w, double sparsity) {
        int n = w.length;
        int k = (int) Math.round(sparsity * n);
        float[] mask = new float[n];
        Arrays.fill(mask, 1f);
        if (k <= 0) {
            return mask;
        }
        // sort indices by (|w|, index): long keys, the magnitude's bits above the index (|w| >= 0 orders as its bits)
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            keys[i] = ((long) Float.floatToIntBits(Math.abs(w[i])) << 32) | i;
        }
        Arrays.sort(keys);
        for (int j = 0; j < Math.min(k, n); j++) {
            mask[(int) keys[j]] = 0f;
        }
        return mask;
    }

    /** The masks of every prunable tensor of {@code full} (a one-rank model's tensors by name) at {@code sparsity}. */
    public static Map<String, float[]> masks(Map<String, HostTensor> full, double sparsity) {
        Map<String, float[]> out = new LinkedHashMap<>();
        full.forEach((name, t) -> {
            if (prunable(name, t.shape())) {
                out.put(name, of(t.toFloats(), sparsity));
            }
        });
        return out;
    }

    /** {@code full} with every prunable tensor pruned to {@code sparsity} at once (one-shot, no fine-tuning). */
    public static Map<String, HostTensor> pruned(Map<String, HostTensor> full, double sparsity) {
        Map<String, HostTensor> out = new LinkedHashMap<>(full);
        masks(full, sparsity).forEach((name, mask) -> {
            float[] w = full.get(name).toFloats();
            for (int i = 0; i < w.length; i++) {
                w[i] = mask[i] == 0f ? 0f : w[i]; // +0, as training's masks leave it
            }
            out.put(name, HostTensor.ofFloats(w, full.get(name).shape()));
        });
        return out;
    }

    /** The fraction of zeros among the prunable tensors of {@code full}. */
    public static double sparsity(Map<String, HostTensor> full) {
        long zeros = 0;
        long total = 0;
        for (Map.Entry<String, HostTensor> e : full.entrySet()) {
            if (prunable(e.getKey(), e.getValue().shape())) {
                for (float v : e.getValue().toFloats()) {
                    zeros += v == 0f ? 1 : 0;
                    total++;
                }
            }
        }
        return total == 0 ? 0 : (double) zeros / total;
    }
}
