package io.megalith.core.model.clip;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import java.util.List;

/**
 * A one-rank {@link Clip}'s unit embeddings on the host (no dropout, no gradients), in chunks, and what zero-shot
 * classification and retrieval do with them: cosine similarities (dot products of unit rows) and their arg-max / top-k.
 */
public final class ClipEmbeddings {
    /** Rows run through a tower at once. */
    public static final int CHUNK = 256;

    private ClipEmbeddings() {}

    /** Unit embeddings [rows][D] of normalised pixels [rows * C * H * W]. */
    public static float[][] images(Clip clip, float[] pixels, int rows, NDManager manager) {
        int per = pixels.length / Math.max(rows, 1);
        float[][] out = new float[rows][];
        JniUtils.setGradMode(false);
        for (int from = 0; from < rows; from += CHUNK) {
            int n = Math.min(CHUNK, rows - from);
            float[] chunk = new float[n * per];
            System.arraycopy(pixels, from * per, chunk, 0, chunk.length);
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                float[] e = clip.encodeImages(Clip.pixels(m, chunk, n, clip.config()), ForwardContext.inference(m))
                        .toFloatArray();
                split(e, n, out, from);
            }
        }
        return out;
    }

    /** Unit embeddings [texts][D] of captions. */
    public static float[][] texts(Clip clip, CaptionTokens tokens, List<String> texts, NDManager manager) {
        float[][] out = new float[texts.size()][];
        JniUtils.setGradMode(false);
        for (int from = 0; from < texts.size(); from += CHUNK) {
            int n = Math.min(CHUNK, texts.size() - from);
            long[] ids = tokens.encode(texts.subList(from, from + n));
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                split(clip.encodeTexts(ids, n, ForwardContext.inference(m)).toFloatArray(), n, out, from);
            }
        }
        return out;
    }

    private static void split(float[] flat, int n, float[][] out, int from) {
        int d = flat.length / n;
        for (int i = 0; i < n; i++) {
            out[from + i] = new float[d];
            System.arraycopy(flat, i * d, out[from + i], 0, d);
        }
    }

    /**
     * The mean of several sets of unit rows [rows][D], row by row, normalised again: CLIP's prompt ensemble (a
     * class's embedding from its prompts under several templates).
     */
    public static float[][] meanOfUnitRows(List<float[][]> sets) {
        float[][] out = new float[sets.get(0).length][];
        for (int r = 0; r < out.length; r++) {
            float[] sum = new float[sets.get(0)[r].length];
            for (float[][] set : sets) {
                for (int j = 0; j < sum.length; j++) {
                    sum[j] += set[r][j];
                }
            }
            double norm = 0;
            for (float v : sum) {
                norm += (double) v * v;
            }
            float inv = (float) (1 / Math.sqrt(Math.max(norm, 1e-24)));
            for (int j = 0; j < sum.length; j++) {
                sum[j] *= inv;
            }
            out[r] = sum;
        }
        return out;
    }

    /** Cosine similarity of two unit rows. */
    public static double similarity(float[] a, float[] b) {
        double s = 0;
        for (int j = 0; j < a.length; j++) {
            s += a[j] * b[j];
        }
        return s;
    }

    /** For each query, the index of its most similar key (zero-shot: the class whose prompt is nearest). */
    public static int[] nearest(float[][] queries, float[][] keys) {
        int[] out = new int[queries.length];
        for (int i = 0; i < queries.length; i++) {
            out[i] = topK(queries[i], keys, 1)[0];
        }
        return out;
    }

    /** The indices of the {@code k} keys most similar to {@code query}, most similar first (ties: lower index). */
    public static int[] topK(float[] query, float[][] keys, int k) {
        int n = Math.min(k, keys.length);
        double[] scores = new double[keys.length];
        for (int j = 0; j < keys.length; j++) {
            scores[j] = similarity(query, keys[j]);
        }
        int[] best = new int[n];
        boolean[] taken = new boolean[keys.length];
        for (int r = 0; r < n; r++) {
            int arg = -1;
            for (int j = 0; j < keys.length; j++) {
                if (!taken[j] && (arg < 0 || scores[j] > scores[arg])) {
                    arg = j;
                }
            }
            taken[arg] = true;
            best[r] = arg;
        }
        return best;
    }
}
