package io.megalith.core.diffusion;

/** The network a sampler calls: its output (eps or v) for rows x_t [rows, C, H, W] at timesteps t with labels. */
public interface Denoiser {
    float[] predict(float[] x, long[] t, long[] labels, int rows);
}
