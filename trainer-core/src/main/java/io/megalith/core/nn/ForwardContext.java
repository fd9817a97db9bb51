package io.megalith.core.nn;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Ops;

/**
 * What a forward pass needs besides its inputs: whether it trains (dropout on), the random key of
 * this micro-batch, and a manager for tensors the pass creates from host data.
 *
 * <p>Dropout masks come from {@link CounterRng} keyed by (micro-batch key, site name), not from
 * libtorch's global generator: they are then identical across thread counts, ranks and resumes.
 */
public final class ForwardContext {
    private final boolean training;
    private final long key;
    private final NDManager manager;

    public ForwardContext(boolean training, long key, NDManager manager) {
        this.training = training;
        this.key = key;
        this.manager = manager;
    }

    public static ForwardContext inference(NDManager manager) {
        return new ForwardContext(false, 0, manager);
    }

    public boolean training() {
        return training;
    }

    public NDManager manager() {
        return manager;
    }

    /** Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p). */
    public PtNDArray dropout(PtNDArray x, double p, String site) {
        if (!training || p <= 0) {
            return x;
        }
        long[] shape = x.getShape().getShape();
        int n = (int) x.getShape().size();
        float keep = (float) (1.0 / (1.0 - p));
        long siteKey = CounterRng.key(key, site);
        float[] mask = new float[n];
        for (int i = 0; i < n; i++) {
            mask[i] = CounterRng.uniform(siteKey, i) >= p ? keep : 0f;
        }
        return Ops.mul(x, Ops.floats(manager, mask, shape));
    }
}
