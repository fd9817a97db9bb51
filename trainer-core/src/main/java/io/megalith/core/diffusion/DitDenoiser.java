package io.megalith.core.diffusion;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;

/** A one-rank {@link Dit} as a sampler's {@link Denoiser}: a forward without gradients per call. */
public final class DitDenoiser implements Denoiser {
    private final Dit model;
    private final NDManager manager;

    public DitDenoiser(Dit model, NDManager manager) {
        this.model = model;
        this.manager = manager;
    }

    @Override
    public float[] predict(float[] x, long[] t, long[] labels, int rows) {
        DitConfig c = model.config();
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            return model.forward(Ops.floats(m, x, rows, c.channels(), c.height(), c.width()), t, labels,
                    ForwardContext.inference(m)).toFloatArray();
        } finally {
            JniUtils.setGradMode(grad);
        }
    }
}
