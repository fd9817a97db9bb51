package io.megalith.core.moe;

import java.util.Arrays;

/**
 * Routing statistics of one optimizer step, summed over MoE layers, micro-batches, worker threads and (after
 * {@link #toArray}/{@link #fromArray} and an all-reduce) data-parallel ranks. Thread-safe.
 */
public final class MoeStats {
    private double auxSum; // sum over (layer, sequence) of the load-balancing loss
    private double zSum; // sum over (layer, token) of logsumexp(router logits)^2
    private long sequences; // (layer, sequence) pairs
    private long tokens; // (layer, token) pairs
    private long assignments;
    private long dropped;
    private final long[][] load; // [moe layer][expert] assignments kept

    public MoeStats(int moeLayers, int experts) {
        this.load = new long[moeLayers][experts];
    }

    public synchronized void add(int moeLayer, Routing r, double auxSum, double zSum) {
        this.auxSum += auxSum;
        this.zSum += zSum;
        this.sequences += r.sequences();
        this.tokens += r.tokens;
        this.assignments += (long) r.tokens * r.topK;
        this.dropped += r.dropped;
        for (int e = 0; e < r.experts; e++) {
            load[moeLayer][e] += r.load(e);
        }
    }

    /** Mean load-balancing loss over MoE layers and sequences (1.0 = balanced). */
    public synchronized double auxLoss() {
        return sequences == 0 ? 0 : auxSum / sequences;
    }

    /** Mean router z-loss over MoE layers and tokens. */
    public synchronized double zLoss() {
        return tokens == 0 ? 0 : zSum / tokens;
    }

    /** Fraction of (token, choice) assignments dropped for lack of capacity. */
    public synchronized double dropFraction() {
        return assignments == 0 ? 0 : (double) dropped / assignments;
    }

    /** Fewest tokens any expert of any MoE layer processed this step. */
    public synchronized long minExpertTokens() {
        return Arrays.stream(load).flatMapToLong(Arrays::stream).min().orElse(0);
    }

    /** Most tokens any expert of any MoE layer processed this step. */
    public synchronized long maxExpertTokens() {
        return Arrays.stream(load).flatMapToLong(Arrays::stream).max().orElse(0);
    }

    /** Everything as doubles, to be summed over ranks. */
    public synchronized double[] toArray() {
        int experts = load.length == 0 ? 0 : load[0].length;
        double[] a = new double[6 + load.length * experts];
        a[0] = auxSum;
        a[1] = zSum;
        a[2] = sequences;
        a[3] = tokens;
        a[4] = assignments;
        a[5] = dropped;
        for (int l = 0; l < load.length; l++) {
            for (int e = 0; e < experts; e++) {
                a[6 + l * experts + e] = load[l][e];
            }
        }
        return a;
    }

    public synchronized void fromArray(double[] a) {
        auxSum = a[0];
        zSum = a[1];
        sequences = (long) a[2];
        tokens = (long) a[3];
        assignments = (long) a[4];
        dropped = (long) a[5];
        int experts = load.length == 0 ? 0 : load[0].length;
        for (int l = 0; l < load.length; l++) {
            for (int e = 0; e < experts; e++) {
                load[l][e] = (long) a[6 + l * experts + e];
            }
        }
    }
}
