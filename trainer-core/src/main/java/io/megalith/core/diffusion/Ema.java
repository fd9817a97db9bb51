package io.megalith.core.diffusion;

import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import java.nio.FloatBuffer;
import java.util.Map;

/**
 * An exponential moving average of a store's parameters (this rank's slices), as DiT samples from:
 * shadow = decay shadow + (1 - decay) theta after every optimizer step, starting from the initial weights. Its
 * state is a set of named tensors ({@code ema.<name>}), to be checkpointed like the optimizer's.
 */
public final class Ema {
    public static final String PREFIX = "ema.";
    private final ParameterStore store;
    private final double decay;
    private final float[] shadow;

    public Ema(ParameterStore store, double decay) {
        this.store = store;
        this.decay = decay;
        this.shadow = new float[(int) store.numel()];
        store.values().get(shadow);
    }

    public double decay() {
        return decay;
    }

    /** One update from the store's current values. */
    public void update() {
        FloatBuffer v = store.values();
        for (int i = 0; i < shadow.length; i++) {
            shadow[i] = (float) (decay * shadow[i] + (1 - decay) * v.get(i));
        }
    }

    /** The averaged weights by name, {@code ema.<name>}. */
    public Map<String, HostTensor> state() {
        return store.slices(FloatBuffer.wrap(shadow), PREFIX);
    }

    /** Restores the average from {@link #state()}'s tensors. */
    public void load(Map<String, HostTensor> state) {
        store.loadSlices(FloatBuffer.wrap(shadow), PREFIX, state);
    }

    /** Copies the averaged weights into {@code target}, a store of the same layout (e.g. a sampling model's). */
    public void copyTo(ParameterStore target) {
        if (target.numel() != shadow.length) {
            throw new IllegalArgumentException("a store of " + target.numel() + " values, the average has "
                    + shadow.length);
        }
        target.values().put(shadow);
    }

    /** A copy of the averaged values, flat in store order. */
    public float[] values() {
        return shadow.clone();
    }
}
