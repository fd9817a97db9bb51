package io.megalith.core.moe;

import java.util.Arrays;

/**
 * The discrete half of routing, computed on the host from the router's probabilities: each token's top-k experts,
 * which of those assignments get a capacity slot, and the per-sequence load statistics of the auxiliary loss.
 *
 * <p><b>Groups.</b> Capacity and the load-balancing loss are per sequence (GShard's "groups", one per row of the
 * batch): a sequence's routing does not depend on which other sequences share its micro-batch, data-parallel rank
 * or worker thread, so every layout of the global batch routes every token the same way.
 *
 * <p><b>Dropping order</b> (Switch / GShard): within a sequence, assignments claim an expert's slots first by
 * choice rank, then by position: every token's first choice (positions 0, 1, ..., T-1), then every token's second
 * choice. An assignment that finds its expert full is dropped: it contributes nothing, and a token whose every
 * assignment is dropped passes through the residual connection only. Ties in the top-k go to the lower expert index.
 *
 * <p><b>Load-balancing loss</b> (Switch Transformer eq. 4, with the k choices counted): per sequence
 * {@code E * sum_e f_e * P_e}, where {@code f_e} is the fraction of the sequence's T*k assignments that chose
 * expert e (before dropping; not differentiable) and {@code P_e} the mean router probability of e over its tokens.
 * It is 1.0 when routing is uniform. The loss of a batch is the mean over its sequences.
 */
public final class Routing {
    /** Assignments [N*k]: expert of token n's j-th choice at n*k + j. */
    public final int[] expert;
    /** Assignments [N*k]: slot of the assignment within its expert's (per-sequence) capacity, or -1 if dropped. */
    public final int[] slot;
    /** Per expert: kept assignments (indices into {@link #expert}) in dispatch order: by sequence, then slot. */
    public final int[][] kept;
    /** Per sequence and expert, f_e: the fraction of the sequence's assignments that chose e (before dropping). */
    public final double[][] fraction;
    public final int tokens;
    public final int seqLen;
    public final int experts;
    public final int topK;
    public final int capacity;
    public final int dropped;

    private Routing(int[] expert, int[] slot, int[][] kept, double[][] fraction, int tokens, int seqLen, int experts,
            int topK, int capacity, int dropped) {
        this.expert = expert;
        this.slot = slot;
        this.kept = kept;
        this.fraction = fraction;
        this.tokens = tokens;
        this.seqLen = seqLen;
        this.experts = experts;
        this.topK = topK;
        this.capacity = capacity;
        this.dropped = dropped;
    }

    /**
     * Slots per expert per sequence: {@code ceil(factor * k * T / E)}, at least 1; with factor 0 (no dropping) T,
     * the most any expert can receive (a token chooses an expert at most once).
     */
    public static int capacity(double factor, int topK, int seqLen, int experts) {
        if (factor <= 0) {
            return seqLen;
        }
        return (int) Math.max(1, Math.min(seqLen, Math.ceil(factor * topK * seqLen / experts - 1e-9)));
    }

    /**
     * Routes {@code probs} [N, E] (row-major, N = sequences x seqLen tokens in sequence order) to their top
     * {@code topK} experts under a per-sequence capacity from {@code capacityFactor} (0: no dropping).
     */
    public static Routing route(float[] probs, int seqLen, int experts, int topK, double capacityFactor) {
        int n = probs.length / experts;
        if (n * experts != probs.length || n % seqLen != 0) {
            throw new IllegalArgumentException(probs.length + " probabilities are not [sequences x " + seqLen + ", "
                    + experts + "]");
        }
        int cap = capacity(capacityFactor, topK, seqLen, experts);
        int[] expert = new int[n * topK];
        for (int t = 0; t < n; t++) {
            int first = -1;
            for (int j = 0; j < topK; j++) {
                int best = -1;
                for (int e = 0; e < experts; e++) {
                    if (e != first && (best < 0 || probs[t * experts + e] > probs[t * experts + best])) {
                        best = e;
                    }
                }
                expert[t * topK + j] = best;
                first = best;
            }
        }
        int[] slot = new int[n * topK];
        int sequences = n / seqLen;
        double[][] fraction = new double[sequences][experts];
        int[][] keptLists = new int[experts][n * topK];
        int[] keptCount = new int[experts];
        int dropped = 0;
        // dispatch order: sequence by sequence; inside a sequence choice rank then position decide who gets a slot
        int[][] seqKept = new int[experts][];
        for (int g = 0; g < sequences; g++) {
            int[] used = new int[experts];
            int[][] order = new int[experts][cap];
            for (int j = 0; j < topK; j++) {
                for (int p = 0; p < seqLen; p++) {
                    int a = (g * seqLen + p) * topK + j;
                    int e = expert[a];
                    fraction[g][e] += 1.0 / (seqLen * topK);
                    if (used[e] < cap) {
                        order[e][used[e]] = a;
                        slot[a] = used[e]++;
                    } else {
                        slot[a] = -1;
                        dropped++;
                    }
                }
            }
            for (int e = 0; e < experts; e++) {
                for (int s = 0; s < used[e]; s++) {
                    keptLists[e][keptCount[e]++] = order[e][s];
                }
            }
        }
        for (int e = 0; e < experts; e++) {
            seqKept[e] = Arrays.copyOf(keptLists[e], keptCount[e]);
        }
        return new Routing(expert, slot, seqKept, fraction, n, seqLen, experts, topK, cap, dropped);
    }

    public int sequences() {
        return tokens / seqLen;
    }

    /** Tokens (assignments) expert e processes. */
    public int load(int e) {
        return kept[e].length;
    }

    /** The load-balancing loss of sequence g: E * sum_e f_e * P_e, with P_e the mean of {@code probs} over g. */
    public double auxLoss(float[] probs, int g) {
        double sum = 0;
        for (int e = 0; e < experts; e++) {
            double p = 0;
            for (int t = g * seqLen; t < (g + 1) * seqLen; t++) {
                p += probs[t * experts + e];
            }
            sum += fraction[g][e] * p / seqLen;
        }
        return experts * sum;
    }
}
