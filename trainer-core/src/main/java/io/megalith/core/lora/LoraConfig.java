package io.megalith.core.lora;

import java.util.List;

/**
 * Low-rank adapters (Hu et al., LoRA): which linear layers get one, of which rank, and their scale
 * alpha / rank. A target matches a linear layer whose module name equals it or ends with "." + target,
 * so {@code attn.qkv} adapts the fused QKV projection of every layer and {@code encoder.layers.1.attn.qkv}
 * only that of encoder layer 1; {@code *} adapts every linear layer built through {@link LoraLinear}.
 */
public record LoraConfig(int rank, double alpha, List<String> targets) {
    public static final LoraConfig NONE = new LoraConfig(0, 0, List.of());

    public LoraConfig {
        if (rank < 0) {
            throw new IllegalArgumentException("LoRA rank must be >= 0, got " + rank);
        }
        targets = List.copyOf(targets);
    }

    public boolean enabled() {
        return rank > 0 && !targets.isEmpty();
    }

    /** Whether the linear layer named {@code module} (e.g. {@code encoder.layers.0.attn.qkv}) gets an adapter. */
    public boolean applies(String module) {
        if (!enabled()) {
            return false;
        }
        for (String t : targets) {
            if (t.equals("*") || module.equals(t) || module.endsWith("." + t)) {
                return true;
            }
        }
        return false;
    }

    /** The factor of the adapter's output, alpha / rank. */
    public double scale() {
        return alpha / rank;
    }
}
