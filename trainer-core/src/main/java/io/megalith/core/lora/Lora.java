package io.megalith.core.lora;

import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * LoRA on whole models and state dicts: which parameters train, the adapter-only state to save, and merging
 * adapters into the base weights of a state dict (the result loads into the same model built without LoRA).
 */
public final class Lora {
    private Lora() {}

    public static boolean isAdapter(String parameterName) {
        return parameterName.endsWith("." + LoraLinear.A) || parameterName.endsWith("." + LoraLinear.B);
    }

    /** The trainable set of LoRA fine-tuning: adapter parameters only (everything else frozen). */
    public static Predicate<Parameter> adaptersOnly() {
        return p -> isAdapter(p.name());
    }

    /** The adapter tensors of a state dict: what LoRA fine-tuning saves. */
    public static Map<String, HostTensor> adapterState(Map<String, HostTensor> state) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        state.forEach((k, v) -> {
            if (isAdapter(k)) {
                out.put(k, v);
            }
        });
        return out;
    }

    /**
     * A state dict without adapters whose base weights include them: for every {@code X.lora_a} / {@code X.lora_b}
     * pair, {@code X.weight += scale * B A} (computed in double). {@code state} may hold the base model and
     * the adapters together, or the base model with the adapters of {@link #adapterState} added.
     */
    public static Map<String, HostTensor> merged(Map<String, HostTensor> state, double scale) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        state.forEach((k, v) -> {
            if (!isAdapter(k)) {
                out.put(k, v);
            }
        });
        for (String k : state.keySet()) {
            if (!k.endsWith("." + LoraLinear.A)) {
                continue;
            }
            String layer = k.substring(0, k.length() - LoraLinear.A.length() - 1);
            HostTensor a = state.get(k);
            HostTensor b = state.get(layer + "." + LoraLinear.B);
            HostTensor w = state.get(layer + ".weight");
            if (b == null || w == null) {
                throw new IllegalArgumentException("adapter " + layer + " needs " + layer + ".lora_b and " + layer + ".weight");
            }
            int out0 = (int) w.shape()[0];
            int in = (int) w.shape()[1];
            int r = (int) a.shape()[0];
            float[] wv = w.toFloats();
            float[] av = a.toFloats();
            float[] bv = b.toFloats();
            for (int i = 0; i < out0; i++) {
                for (int j = 0; j < in; j++) {
                    double s = 0;
                    for (int q = 0; q < r; q++) {
                        s += (double) bv[i * r + q] * av[q * in + j];
                    }
                    wv[i * in + j] = (float) (wv[i * in + j] + scale * s);
                }
            }
            out.put(layer + ".weight", HostTensor.ofFloats(wv, w.shape()));
        }
        return out;
    }

    /**
     * Loads a checkpoint of the model without adapters into {@code store} of the same model with adapters: every
     * base parameter must be in {@code base}; adapters keep their fresh init (B = 0: the loaded model computes
     * exactly the checkpoint's function).
     */
    public static void loadBase(ParameterStore store, Map<String, HostTensor> base) {
        FloatBuffer values = store.values();
        for (Parameter p : store.parameters()) {
            if (isAdapter(p.name())) {
                continue;
            }
            HostTensor t = base.get(p.name());
            if (t == null || !Arrays.equals(t.shape(), p.shape())) {
                throw new IllegalArgumentException("checkpoint has no tensor " + p.name() + Arrays.toString(p.shape()));
            }
            values.put((int) p.offset(), t.toFloats());
        }
    }

    /** Folds every adapter of {@code model} into its base weight in place (see {@link LoraLinear#merge()}). */
    public static void mergeInPlace(Module model) {
        forEach(model, LoraLinear::merge);
    }

    private static void forEach(Module m, Consumer<LoraLinear> f) {
        if (m instanceof LoraLinear l) {
            f.accept(l);
        }
        for (Module c : m.children()) {
            forEach(c, f);
        }
    }
}
