package io.megalith.core.model.dit;

/** The fixed sinusoidal tables of a DiT, computed on the host in double precision. */
public final class Sinusoids {
    private Sinusoids() {}

    /**
     * Timestep features [B, F] (DiT's TimestepEmbedder): for half = F/2 frequencies f_i = 10000^(-i/half),
     * [cos(t f_0..f_{half-1}), sin(t f_0..f_{half-1})].
     */
    public static float[] timesteps(long[] t, int features) {
        int half = features / 2;
        float[] out = new float[t.length * features];
        for (int b = 0; b < t.length; b++) {
            for (int i = 0; i < half; i++) {
                double arg = t[b] * Math.exp(-Math.log(10000.0) * i / half);
                out[b * features + i] = (float) Math.cos(arg);
                out[b * features + half + i] = (float) Math.sin(arg);
            }
        }
        return out;
    }

    /**
     * 2-D sin-cos positions [gh gw, D] (MAE's get_2d_sincos_pos_embed), tokens row-major: the first D/2 features
     * encode the column, the last D/2 the row, each as [sin(x w_0..), cos(x w_0..)] with w_k = 10000^(-k/(D/4)).
     */
    public static float[] positions2d(int dim, int gh, int gw) {
        int quarter = dim / 4;
        float[] out = new float[gh * gw * dim];
        for (int r = 0; r < gh; r++) {
            for (int c = 0; c < gw; c++) {
                int base = (r * gw + c) * dim;
                for (int k = 0; k < quarter; k++) {
                    double w = 1.0 / Math.pow(10000.0, (double) k / quarter);
                    out[base + k] = (float) Math.sin(c * w);
                    out[base + quarter + k] = (float) Math.cos(c * w);
                    out[base + 2 * quarter + k] = (float) Math.sin(r * w);
                    out[base + 3 * quarter + k] = (float) Math.cos(r * w);
                }
            }
        }
        return out;
    }
}
