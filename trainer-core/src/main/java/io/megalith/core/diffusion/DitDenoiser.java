package io.megalith.core.diffusion;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;

/**
 * A one-rank {@link Dit} as a sampler's {@link Denoiser}: a forward without gradients per call, on class labels or
 * (a text-conditioned DiT) on {@link Conditioning.Text} captions.
 */
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

    @Override
    public float[] predict(float[] x, long[] t, Conditioning cond, int rows) {
        if (!(cond instanceof Conditioning.Text text)) {
            return Denoiser.super.predict(x, t, cond, rows);
        }
        DitConfig c = model.config();
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            PtNDArray states = Ops.floats(m, text.states(), rows, text.text().tokens(), text.width());
            return model.forward(Ops.floats(m, x, rows, c.channels(), c.height(), c.width()), t, states, text.text(),
                    ForwardContext.inference(m)).toFloatArray();
        } finally {
            JniUtils.setGradMode(grad);
        }
    }
}
