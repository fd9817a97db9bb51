package io.megalith.core.optim;

import io.megalith.comm.DirectBuffers;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/**
 * AdamW (Loshchilov and Hutter) with exactly torch.optim.AdamW's update, fused into one pass over
 * flat buffers in Java:
 *
 * <pre>
 *   g <- g * clip                                   (global-norm clipping factor, 1 = none)
 *   p <- p * (1 - lr * wd)                          (decoupled decay, decay group only)
 *   m <- m + (1 - b1) (g - m);  v <- b2 v + (1 - b2) g^2
 *   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * </pre>
 *
 * Why Java and not libtorch ops: the update is memory-bound; as tensor ops it is ~12 passes over
 * parameters, gradients and moments (plus a gradient clone in DJL's native adamUpdate), as one
 * JIT-vectorised loop it is one pass. The moments live in native memory, freed by {@link #close}: on the Java
 * heap they were the bulk of it (8 bytes per parameter), and the collector sizes the heap, and so the process,
 * in proportion to what it holds; a ZeRO shard is just a shorter pair of buffers. Params and grads are any
 * {@link FloatBuffer} (e.g. a zero-copy view of a libtorch tensor).
 */
public final class AdamW implements AutoCloseable {
    private static final int CHUNK = 4096;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final int numel;
    private ByteBuffer expAvgMemory; // owned; null once closed
    private ByteBuffer expAvgSqMemory;
    private final FloatBuffer expAvg;
    private final FloatBuffer expAvgSq;
    private final long[] decayRanges;
    private long step;

    /** State for {@code numel} elements of which the first {@code decayElements} take weight decay. */
    public AdamW(int numel, int decayElements, double beta1, double beta2, double eps, double weightDecay) {
        this(numel, new long[] {0, decayElements}, beta1, beta2, eps, weightDecay);
        if (decayElements < 0 || decayElements > numel) {
            throw new IllegalArgumentException("decayElements " + decayElements + " outside [0, " + numel + "]");
        }
    }

    /**
     * State for {@code numel} elements; weight decay applies to the ranges {@code decayRanges} =
     * {from0, to0, from1, to1, ...} (sorted, disjoint, within [0, numel)), e.g. the matmul weights of a
     * flat buffer or of a ZeRO shard of it.
     */
    public AdamW(int numel, long[] decayRanges, double beta1, double beta2, double eps, double weightDecay) {
        if (decayRanges.length % 2 != 0) {
            throw new IllegalArgumentException("decay ranges come in (from, to) pairs");
        }
        long last = 0;
        for (int i = 0; i < decayRanges.length; i += 2) {
            if (decayRanges[i] < last || decayRanges[i + 1] < decayRanges[i] || decayRanges[i + 1] > numel) {
                throw new IllegalArgumentException("decay ranges must be sorted, disjoint and within [0, " + numel + "]");
            }
            last = decayRanges[i + 1];
        }
        this.decayRanges = decayRanges.clone();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.numel = numel;
        this.expAvgMemory = DirectBuffers.floats(numel);
        this.expAvgSqMemory = DirectBuffers.floats(numel);
        this.expAvg = expAvgMemory.asFloatBuffer();
        this.expAvgSq = expAvgSqMemory.asFloatBuffer();
    }

    /** One update of {@code params} with {@code grads} (same length as the state) at learning rate {@code lr}. */
    public void step(FloatBuffer params, FloatBuffer grads, double lr, double clip) {
        int n = numel;
        if (params.remaining() != n || grads.remaining() != n) {
            throw new IllegalArgumentException("expected " + n + " elements, got params " + params.remaining()
                    + " and grads " + grads.remaining());
        }
        beginStep();
        update(params, grads, 0, lr, clip);
    }

    /** Starts optimizer step t+1: the bias corrections of the following {@link #update} calls use it. */
    public void beginStep() {
        step++;
    }

    /**
     * Updates the state elements [stateOffset, stateOffset + params.remaining()) with these params and
     * grads (same length), in the current step. A ZeRO shard made of several pieces calls this per piece.
     */
    public void update(FloatBuffer params, FloatBuffer grads, int stateOffset, double lr, double clip) {
        int n = params.remaining();
        if (grads.remaining() != n || stateOffset < 0 || stateOffset + n > numel) {
            throw new IllegalArgumentException("piece of " + n + " elements at " + stateOffset + " (grads "
                    + grads.remaining() + ") outside a state of " + numel);
        }
        requireOpen();
        if (step == 0) {
            throw new IllegalStateException("call beginStep() first");
        }
        float bc1 = (float) (1 - Math.pow(beta1, step));
        float sqrtBc2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) lr / bc1;
        float decayFactor = (float) (1 - lr * weightDecay);
        float[] p = new float[CHUNK];
        float[] g = new float[CHUNK];
        float[] m = new float[CHUNK];
        float[] v = new float[CHUNK];
        int p0 = params.position();
        int g0 = grads.position();
        for (int from = 0; from < n; from += CHUNK) {
            int len = Math.min(CHUNK, n - from);
            // Work on chunk-local copies: the JIT vectorises a loop whose arrays share one index, not one
            // that mixes [i] and [from + i] (measured 8x slower).
            params.get(p0 + from, p, 0, len);
            grads.get(g0 + from, g, 0, len);
            expAvg.get(stateOffset + from, m, 0, len);
            expAvgSq.get(stateOffset + from, v, 0, len);
            decay(p, stateOffset + from, len, decayFactor);
            update(p, g, m, v, len, (float) clip, stepSize, sqrtBc2);
            params.put(p0 + from, p, 0, len);
            expAvg.put(stateOffset + from, m, 0, len);
            expAvgSq.put(stateOffset + from, v, 0, len);
        }
    }

    /** p *= 1 - lr*wd on the decay ranges that overlap the chunk [from, from + len). */
    private void decay(float[] p, int from, int len, float decayFactor) {
        for (int r = 0; r < decayRanges.length; r += 2) {
            int a = (int) Math.max(decayRanges[r], from) - from;
            int b = (int) Math.min(decayRanges[r + 1], from + len) - from;
            for (int i = a; i < b; i++) {
                p[i] *= decayFactor;
            }
        }
    }

    private void update(float[] p, float[] g, float[] m, float[] v, int len, float clip, float stepSize, float sqrtBc2) {
        float b2 = (float) beta2;
        float ob1 = (float) (1 - beta1);
        float ob2 = (float) (1 - beta2);
        float e = (float) eps;
        for (int i = 0; i < len; i++) {
            float gi = g[i] * clip;
            float mi = m[i] + ob1 * (gi - m[i]);
            float vi = b2 * v[i] + ob2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] -= stepSize * mi / ((float) Math.sqrt(vi) / sqrtBc2 + e);
        }
    }

    public long stepCount() {
        return step;
    }

    public void setStepCount(long step) {
        this.step = step;
    }

    /** The number of elements of the state. */
    public int size() {
        return numel;
    }

    /**
     * The first moments, aligned with the parameters: a live view (position 0, {@link #size()} elements; read for
     * checkpoints, write to restore), valid until {@link #close}.
     */
    public FloatBuffer expAvg() {
        requireOpen();
        return expAvg.duplicate().clear();
    }

    /** The second moments, as {@link #expAvg}. */
    public FloatBuffer expAvgSq() {
        requireOpen();
        return expAvgSq.duplicate().clear();
    }

    /** Frees the moments now; the optimizer must not be used afterwards (closing twice is harmless). */
    @Override
    public void close() {
        DirectBuffers.free(expAvgMemory);
        DirectBuffers.free(expAvgSqMemory);
        expAvgMemory = null;
        expAvgSqMemory = null;
    }

    private void requireOpen() {
        if (expAvgMemory == null) {
            throw new IllegalStateException("AdamW used after close()");
        }
    }

    /** The L2 norm of {@code grads} (accumulated in double, in a fixed order). */
    public static double l2Norm(FloatBuffer grads) {
        int n = grads.remaining();
        int base = grads.position();
        float[] chunk = new float[CHUNK];
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        for (int from = 0; from < n; from += CHUNK) {
            int len = Math.min(CHUNK, n - from);
            grads.get(base + from, chunk, 0, len);
            int i = 0;
            for (; i + 3 < len; i += 4) {
                s0 += (double) chunk[i] * chunk[i];
                s1 += (double) chunk[i + 1] * chunk[i + 1];
                s2 += (double) chunk[i + 2] * chunk[i + 2];
                s3 += (double) chunk[i + 3] * chunk[i + 3];
            }
            for (; i < len; i++) {
                s0 += (double) chunk[i] * chunk[i];
            }
        }
        return Math.sqrt((s0 + s1) + (s2 + s3));
    }
}
