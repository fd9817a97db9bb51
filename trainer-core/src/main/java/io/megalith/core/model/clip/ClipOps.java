package io.megalith.core.model.clip;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/** The few libtorch ops the contrastive head needs beyond {@code tensor.Ops}, one JNI call each. */
final class ClipOps {
    private ClipOps() {}

    /** x / max(||x||_2, 1e-12) along the last dimension, as torch.nn.functional.normalize. */
    static PtNDArray normalize(PtNDArray x) {
        return JniUtils.normalize(x, 2.0, -1, 1e-12);
    }

    static PtNDArray exp(PtNDArray x) {
        return JniUtils.exp(x);
    }

    /** min(x, max) element-wise (torch.clamp(max=...)): the gradient is zero where clamped. */
    static PtNDArray clampMax(PtNDArray x, double max) {
        return JniUtils.clip(x, -Float.MAX_VALUE, max);
    }
}
