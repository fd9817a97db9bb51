package io.megalith.core.model.seq2seq;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Greedy and beam-search decoding of an {@link EncoderDecoder}: the encoder runs once, the decoder one token per
 * step over a {@link DecoderCache}. Outputs exclude BOS and the final EOS.
 */
public final class Seq2SeqGenerator {
    private final EncoderDecoder model;
    private final NDManager root;

    public Seq2SeqGenerator(EncoderDecoder model, NDManager root) {
        this.model = model;
        this.root = root;
    }

    /** A finished hypothesis: its tokens (no BOS, no EOS) and sum of log-probabilities (EOS included). */
    public record Hypothesis(long[] tokens, double logProb) {}

    /** Greedy decoding of {@code batch} sources [batch, s] for at most {@code maxLen} tokens (EOS included). */
    public long[][] greedy(long[] src, int batch, int s, int maxLen) {
        Seq2SeqConfig cfg = model.config();
        int v = cfg.vocabSize();
        long[][] out = new long[batch][];
        List<List<Long>> seqs = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            seqs.add(new ArrayList<>());
        }
        boolean[] done = new boolean[batch];
        long[] last = new long[batch];
        Arrays.fill(last, cfg.bosId());
        JniUtils.setGradMode(false);
        try (NDManager m = root.newSubManager(); DecoderCache cache = new DecoderCache(model.decoderLayers(), root);
                NDScope outer = new NDScope()) {
            ForwardContext ctx = ForwardContext.inference(m);
            PtNDArray bias = model.sourceBias(m, src, batch, s);
            PtNDArray memory = model.encode(Ops.longs(m, src, batch, s), bias, ctx);
            int remaining = batch;
            for (int step = 0; step < Math.min(maxLen, cfg.maxTargetLen()) && remaining > 0; step++) {
                float[] logits;
                try (NDScope scope = new NDScope()) {
                    logits = model.decode(Ops.longs(m, last, batch, 1), memory, bias, ctx, cache).toFloatArray();
                }
                for (int b = 0; b < batch; b++) {
                    int best = 0;
                    for (int j = 1; j < v; j++) {
                        if (logits[b * v + j] > logits[b * v + best]) {
                            best = j;
                        }
                    }
                    last[b] = best;
                    if (done[b]) {
                        continue;
                    }
                    if (best == cfg.eosId()) {
                        done[b] = true;
                        remaining--;
                    } else {
                        seqs.get(b).add((long) best);
                    }
                }
            }
        }
        for (int b = 0; b < batch; b++) {
            out[b] = seqs.get(b).stream().mapToLong(Long::longValue).toArray();
        }
        return out;
    }

    /**
     * Beam search with {@code beams} hypotheses per source: every step extends each live hypothesis by every
     * token, keeps the {@code beams} best non-EOS continuations (the cache rows are reordered to their parents)
     * and sets aside those ending in EOS; a source is done once it has {@code beams} finished hypotheses. The
     * best finished one by logProb / length^lengthPenalty wins (0: plain sum of log-probabilities).
     */
    public Hypothesis[] beam(long[] src, int batch, int s, int maxLen, int beams, double lengthPenalty) {
        Seq2SeqConfig cfg = model.config();
        int v = cfg.vocabSize();
        int k = beams;
        int rows = batch * k;
        long[] expand = new long[rows];
        for (int r = 0; r < rows; r++) {
            expand[r] = r / k;
        }
        double[] scores = new double[rows];
        for (int r = 0; r < rows; r++) {
            scores[r] = r % k == 0 ? 0 : Double.NEGATIVE_INFINITY; // at first all beams are the same: expand one
        }
        long[][] seqs = new long[rows][0];
        List<List<Hypothesis>> finished = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            finished.add(new ArrayList<>());
        }
        boolean[] done = new boolean[batch];
        long[] last = new long[rows];
        Arrays.fill(last, cfg.bosId());
        JniUtils.setGradMode(false);
        try (NDManager m = root.newSubManager(); DecoderCache cache = new DecoderCache(model.decoderLayers(), root);
                NDScope outer = new NDScope()) {
            ForwardContext ctx = ForwardContext.inference(m);
            PtNDArray bias = model.sourceBias(m, src, batch, s);
            PtNDArray memory = model.encode(Ops.longs(m, src, batch, s), bias, ctx);
            // every source's encoder output once per beam; cross-attention K/V are computed from it once
            memory = Ops.selectRows(memory, expand);
            bias = bias == null ? null : Ops.selectRows(bias, expand);
            int steps = Math.min(maxLen, cfg.maxTargetLen());
            for (int step = 0; step < steps; step++) {
                float[] logits;
                try (NDScope scope = new NDScope()) {
                    logits = model.decode(Ops.longs(m, last, rows, 1), memory, bias, ctx, cache).toFloatArray();
                }
                long[] parents = new long[rows];
                long[] next = new long[rows];
                double[] nextScores = new double[rows];
                long[][] nextSeqs = new long[rows][];
                boolean all = true;
                for (int b = 0; b < batch; b++) {
                    if (done[b]) {
                        for (int j = 0; j < k; j++) {
                            int r = b * k + j;
                            parents[r] = r;
                            next[r] = cfg.eosId();
                            nextScores[r] = Double.NEGATIVE_INFINITY;
                            nextSeqs[r] = seqs[r];
                        }
                        continue;
                    }
                    // the 2k best (score, row, token) candidates: enough to keep k that do not end in EOS
                    PriorityQueue<double[]> top = new PriorityQueue<>((x, y) -> Double.compare(x[0], y[0]));
                    for (int j = 0; j < k; j++) {
                        int r = b * k + j;
                        if (scores[r] == Double.NEGATIVE_INFINITY) {
                            continue;
                        }
                        double[] logp = logSoftmax(logits, r * v, v);
                        for (int t = 0; t < v; t++) {
                            double sc = scores[r] + logp[t];
                            if (top.size() < 2 * k) {
                                top.add(new double[] {sc, r, t});
                            } else if (sc > top.peek()[0]) {
                                top.poll();
                                top.add(new double[] {sc, r, t});
                            }
                        }
                    }
                    List<double[]> ranked = new ArrayList<>(top);
                    ranked.sort((x, y) -> Double.compare(y[0], x[0]));
                    int kept = 0;
                    for (int rank = 0; rank < ranked.size(); rank++) {
                        double[] c = ranked.get(rank);
                        int r = (int) c[1];
                        long token = (long) c[2];
                        if (token == cfg.eosId()) {
                            // as Hugging Face's BeamSearchScorer: an EOS counts only among the k best candidates
                            if (rank < k && finished.get(b).size() < k) {
                                finished.get(b).add(new Hypothesis(seqs[r], c[0]));
                            }
                            continue;
                        }
                        if (kept < k) {
                            int to = b * k + kept++;
                            parents[to] = r;
                            next[to] = token;
                            nextScores[to] = c[0];
                            long[] grown = Arrays.copyOf(seqs[r], seqs[r].length + 1);
                            grown[seqs[r].length] = token;
                            nextSeqs[to] = grown;
                        }
                    }
                    for (; kept < k; kept++) {
                        int to = b * k + kept;
                        parents[to] = to;
                        next[to] = cfg.eosId();
                        nextScores[to] = Double.NEGATIVE_INFINITY;
                        nextSeqs[to] = seqs[to];
                    }
                    if (finished.get(b).size() >= k) {
                        done[b] = true;
                    }
                    all &= done[b];
                }
                if (all) {
                    break;
                }
                try (NDScope scope = new NDScope()) {
                    cache.reorder(parents);
                }
                scores = nextScores;
                seqs = nextSeqs;
                last = next;
            }
        }
        Hypothesis[] best = new Hypothesis[batch];
        for (int b = 0; b < batch; b++) {
            List<Hypothesis> cands = new ArrayList<>(finished.get(b));
            if (cands.isEmpty()) { // no hypothesis reached EOS within maxLen: take the live ones
                for (int j = 0; j < k; j++) {
                    int r = b * k + j;
                    if (scores[r] != Double.NEGATIVE_INFINITY) {
                        cands.add(new Hypothesis(seqs[r], scores[r]));
                    }
                }
            }
            Hypothesis winner = null;
            double bestScore = Double.NEGATIVE_INFINITY;
            for (Hypothesis h : cands) {
                double sc = h.logProb() / Math.pow(h.tokens().length + 1, lengthPenalty);
                if (winner == null || sc > bestScore) {
                    winner = h;
                    bestScore = sc;
                }
            }
            best[b] = winner;
        }
        return best;
    }

    private static double[] logSoftmax(float[] logits, int from, int v) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < v; i++) {
            max = Math.max(max, logits[from + i]);
        }
        double sum = 0;
        for (int i = 0; i < v; i++) {
            sum += Math.exp(logits[from + i] - max);
        }
        double lse = max + Math.log(sum);
        double[] out = new double[v];
        for (int i = 0; i < v; i++) {
            out[i] = logits[from + i] - lse;
        }
        return out;
    }
}
