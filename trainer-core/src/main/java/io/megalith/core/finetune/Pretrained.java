package io.megalith.core.finetune;

import io.megalith.core.lora.Lora;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Starting a fine-tuning model from a pre-trained checkpoint: every parameter the checkpoint has (by name) is
 * loaded; the ones it lacks must be new by design (a task head, LoRA adapters) and keep their init. Tensors of
 * the checkpoint the model does not use (e.g. the MLM and NSP heads under a classifier) are ignored.
 */
public final class Pretrained {
    private Pretrained() {}

    /**
     * Loads {@code checkpoint} into {@code store}; returns the names of parameters left at their init. Fails if a
     * parameter is missing and {@code fresh} does not accept it, or if a shape differs.
     */
    public static List<String> load(ParameterStore store, Map<String, HostTensor> checkpoint, Predicate<String> fresh) {
        FloatBuffer values = store.values();
        List<String> left = new ArrayList<>();
        for (Parameter p : store.parameters()) {
            HostTensor t = checkpoint.get(p.name());
            if (t == null) {
                if (!fresh.test(p.name()) && !Lora.isAdapter(p.name())) {
                    throw new IllegalArgumentException("checkpoint has no tensor " + p.name());
                }
                left.add(p.name());
                continue;
            }
            if (!Arrays.equals(t.shape(), p.shape())) {
                throw new IllegalArgumentException("checkpoint tensor " + p.name() + " has shape " + Arrays.toString(t.shape())
                        + ", the model " + Arrays.toString(p.shape()));
            }
            values.put((int) p.offset(), t.toFloats());
        }
        return left;
    }

    /** Freezes parameters whose name starts with any of {@code prefixes} (e.g. "embeddings.", "layers.0."). */
    public static Predicate<Parameter> trainableExcept(List<String> prefixes) {
        return p -> prefixes.stream().noneMatch(x -> p.name().startsWith(x));
    }
}
