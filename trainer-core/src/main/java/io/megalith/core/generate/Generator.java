package io.megalith.core.generate;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.KvCache;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Ops;
import java.util.Arrays;

/**
 * Autoregressive sampling from a GPT, as nanoGPT's generate(): logits of the last position, divided
 * by the temperature, cut to the top k, softmax, sample (temperature 0 = greedy argmax).
 *
 * <p>With the KV cache each new token costs one position of compute instead of the whole context.
 * Sampling draws come from {@link CounterRng} keyed by (seed, row, position), so cached and uncached
 * decoding draw the same numbers and (the logits being equal) produce the same tokens. When the
 * context outgrows block_size, decoding continues uncached over the last block_size tokens, as
 * nanoGPT crops (learned positions cannot slide under a cache).
 */
public final class Generator {
    private final Gpt model;
    private final NDManager manager;

    public Generator(Gpt model, NDManager manager) {
        this.model = model;
        this.manager = manager;
    }

    /** Continues each row of {@code prompts} (all of one length) by {@code maxNew} tokens. */
    public long[][] generate(long[][] prompts, int maxNew, double temperature, int topK, long seed, boolean useCache) {
        int rows = prompts.length;
        int promptLen = prompts[0].length;
        long[][] out = new long[rows][promptLen + maxNew];
        for (int r = 0; r < rows; r++) {
            if (prompts[r].length != promptLen) {
                throw new IllegalArgumentException("prompts must have equal lengths");
            }
            System.arraycopy(prompts[r], 0, out[r], 0, promptLen);
        }
        int block = model.config().blockSize();
        boolean gradMode = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try (KvCache cache = new KvCache(model.config().nLayer(), manager)) {
            boolean cached = useCache;
            for (int len = promptLen; len < promptLen + maxNew; len++) {
                float[] logits;
                try (NDScope scope = new NDScope(); NDManager step = manager.newSubManager()) {
                    ForwardContext ctx = ForwardContext.inference(step);
                    if (cached && len <= block) {
                        // prefill the prompt once, then feed one token per step
                        int from = cache.length() == 0 ? 0 : len - 1;
                        PtNDArray ids = Ops.longs(step, window(out, from, len), rows, len - from);
                        logits = model.lastLogits(ids, ctx, cache).toFloatArray();
                    } else {
                        cached = false;
                        int from = Math.max(0, len - block);
                        PtNDArray ids = Ops.longs(step, window(out, from, len), rows, len - from);
                        logits = model.lastLogits(ids, ctx, null).toFloatArray();
                    }
                }
                int vocab = logits.length / rows;
                for (int r = 0; r < rows; r++) {
                    out[r][len] = sample(logits, r * vocab, vocab, temperature, topK, CounterRng.key(seed, r, len));
                }
            }
        } finally {
            JniUtils.setGradMode(gradMode);
        }
        return out;
    }

    private static long[] window(long[][] rows, int from, int to) {
        long[] ids = new long[rows.length * (to - from)];
        for (int r = 0; r < rows.length; r++) {
            System.arraycopy(rows[r], from, ids, r * (to - from), to - from);
        }
        return ids;
    }

    /** One token from logits[off, off+vocab): greedy at temperature 0, else top-k softmax sampling. */
    static int sample(float[] logits, int off, int vocab, double temperature, int topK, long key) {
        if (temperature <= 0) {
            int best = 0;
            for (int i = 1; i < vocab; i++) {
                if (logits[off + i] > logits[off + best]) {
                    best = i;
                }
            }
            return best;
        }
        double[] scaled = new double[vocab];
        for (int i = 0; i < vocab; i++) {
            scaled[i] = logits[off + i] / temperature;
        }
        double cutoff = Double.NEGATIVE_INFINITY;
        if (topK > 0 && topK < vocab) {
            double[] sorted = scaled.clone();
            Arrays.sort(sorted);
            cutoff = sorted[vocab - topK];
        }
        double max = Double.NEGATIVE_INFINITY;
        for (double v : scaled) {
            max = Math.max(max, v);
        }
        double total = 0;
        double[] p = new double[vocab];
        for (int i = 0; i < vocab; i++) {
            p[i] = scaled[i] < cutoff ? 0 : Math.exp(scaled[i] - max);
            total += p[i];
        }
        double u = CounterRng.uniform(key, 0) * total;
        double acc = 0;
        int last = 0;
        for (int i = 0; i < vocab; i++) {
            if (p[i] > 0) {
                acc += p[i];
                last = i;
                if (u < acc) {
                    return i;
                }
            }
        }
        return last;
    }
}
