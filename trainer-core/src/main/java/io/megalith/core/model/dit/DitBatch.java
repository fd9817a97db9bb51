package io.megalith.core.model.dit;

/**
 * {@code rows} noised images as a DiT trains on them: x_t [rows, C, H, W] row-major, each row's timestep and label
 * (the null class where classifier-free guidance dropped it) and the regression target (the noise, or v).
 */
public record DitBatch(float[] noised, long[] t, long[] labels, float[] target, int rows) {
    public DitBatch {
        if (t.length != rows || labels.length != rows || noised.length != target.length
                || noised.length % Math.max(1, rows) != 0) {
            throw new IllegalArgumentException("a DiT batch of " + rows + " rows with " + t.length + " timesteps, "
                    + labels.length + " labels, " + noised.length + " inputs and " + target.length + " targets");
        }
    }
}
