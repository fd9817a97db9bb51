package io.megalith.core.diffusion;

/** The network a sampler calls: its output (eps or v) for rows x_t [rows, C, H, W] at timesteps t with labels. */
public interface Denoiser {
    float[] predict(float[] x, long[] t, long[] labels, int rows);

    /** As above for rows conditioned on {@code c}: class labels here; a text-conditioned network overrides it. */
    default float[] predict(float[] x, long[] t, Conditioning c, int rows) {
        if (c instanceof Conditioning.Labels l) {
            return predict(x, t, l.labels(), rows);
        }
        throw new UnsupportedOperationException("this network is conditioned on class labels, not " + c);
    }
}
