package io.megalith.core.finetune;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.nn.Parameter;
import java.util.Collection;

/**
 * Applies a run's {@code finetune} section to a model's parameters before they are laid out in a store: under
 * LoRA everything but the adapters is frozen, otherwise the {@code freeze} prefixes are. Trainers give frozen
 * parameters no gradient, no communication and no optimizer state (see {@link Parameter#freeze()}).
 */
public final class Freezing {
    private Freezing() {}

    /**
     * Freezes every parameter of {@code parameters} that {@code finetune} does not train; returns how many elements
     * still train. On a rank holding only part of the model (a pipeline stage, an expert-parallel rank) nothing
     * training here is fine; that every rank together trains something is the config's business.
     */
    public static long apply(Collection<Parameter> parameters, MegalithConfig.Finetune finetune) {
        long trainable = 0;
        for (Parameter p : parameters) {
            if (finetune.trains(p.name())) {
                trainable += p.numel();
            } else {
                p.freeze();
            }
        }
        return trainable;
    }
}
