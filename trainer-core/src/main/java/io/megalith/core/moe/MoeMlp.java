package io.megalith.core.moe;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The MoE feed-forward block that replaces the dense MLP of an MoE layer: a {@link Router}, top-k routing with a
 * per-sequence capacity ({@link Routing}), {@code experts} {@link Expert}s, and the combination of each token's
 * expert outputs weighted by its router probabilities (top-1: the probability itself, as Switch; top-2: the two
 * probabilities renormalised to sum to 1, as GShard and Mixtral). Dropped assignments contribute nothing.
 *
 * <p>As one autograd graph: tokens are gathered into expert order (an embedding lookup of the flattened tokens by
 * token index, whose backward scatter-adds), each expert runs on its contiguous rows (possibly none), and each
 * token gathers its k outputs back from the concatenated results (plus a zero row for dropped assignments) and
 * mixes them with a batched [1, k] x [k, C] product. The discrete routing is computed on the host.
 *
 * <p>During training (a {@link MoeContext} in the forward context) the load-balancing and z-losses, times their
 * coefficients, go to the context as one scalar and the routing statistics to its {@link MoeStats}.
 */
public final class MoeMlp extends Module {
    private final MegalithConfig.Moe cfg;
    private final int moeLayer;
    private final long width;
    private final double dropout;
    private final Router router;
    private final List<Expert> experts = new ArrayList<>();

    private int firstExpert; // this rank holds experts [firstExpert, firstExpert + experts.size())

    /** The MoE block of the {@code moeLayer}-th MoE layer (counting MoE layers only), with every expert. */
    public MoeMlp(String prefix, MegalithConfig.Moe cfg, int moeLayer, long width, boolean bias, double dropout,
            int nLayer) {
        super(prefix);
        this.cfg = cfg;
        this.moeLayer = moeLayer;
        this.width = width;
        this.dropout = dropout;
        this.router = child(new Router(childName("router"), width, cfg.experts()));
        double residualStd = 0.02 / Math.sqrt(2.0 * nLayer);
        for (int e = 0; e < cfg.experts(); e++) {
            experts.add(child(new Expert(childName("experts." + e), width, bias, residualStd)));
        }
    }

    /**
     * Keeps the part of the block that rank {@code epRank} of an expert-parallel group of {@code ep} holds (before
     * storage is laid out): the router and experts [epRank E/ep, (epRank+1) E/ep), named by their global index (so
     * initialised as on one rank).
     */
    public void keepExperts(int epRank, int ep) {
        if (cfg.experts() % ep != 0) {
            throw new IllegalArgumentException(cfg.experts() + " experts are not divisible by ep " + ep);
        }
        if (experts.size() != cfg.experts()) {
            throw new IllegalStateException(prefix() + " already keeps experts of one rank");
        }
        int local = cfg.experts() / ep;
        int first = epRank * local;
        List<Expert> kept = new ArrayList<>(experts.subList(first, first + local));
        for (Expert e : experts) {
            if (!kept.contains(e)) {
                remove(e);
            }
        }
        experts.clear();
        experts.addAll(kept);
        this.firstExpert = first;
    }

    public MegalithConfig.Moe config() {
        return cfg;
    }

    /** Experts this rank holds. */
    public int localExperts() {
        return experts.size();
    }

    /** The global index of this rank's first expert. */
    public int firstExpert() {
        return firstExpert;
    }

    /** The parameters of this rank's experts (reduced over the expert-data-parallel group). */
    public List<Parameter> expertParameters() {
        List<Parameter> p = new ArrayList<>();
        for (Expert e : experts) {
            p.addAll(e.parameters());
        }
        return p;
    }

    public Router router() {
        return router;
    }

    /** Expert {@code e} (global index), which this rank must hold. */
    public Expert expert(int e) {
        return experts.get(e - firstExpert);
    }

    /** Which MoE layer (0-based, counting MoE layers only) block {@code layer} is. */
    public static int moeIndex(MegalithConfig.Moe cfg, int layer) {
        return (layer + 1) / cfg.every() - 1;
    }

    /** Number of MoE layers in a model of {@code nLayer} blocks. */
    public static int moeLayers(MegalithConfig.Moe cfg, int nLayer) {
        return cfg.enabled() ? nLayer / cfg.every() : 0;
    }

    /** The block's feed-forward output [B, T, C] for normalised hidden states [B, T, C] (before the residual add). */
    public PtNDArray forward(PtNDArray x, ForwardContext ctx) {
        if (experts.size() != cfg.experts()) {
            throw new IllegalStateException(prefix() + " holds " + experts.size() + " of " + cfg.experts()
                    + " experts: run it as an expert-parallel segment");
        }
        Dispatch d = dispatch(x, ctx);
        if (d.auxLoss != null) {
            ctx.moe().addLoss(d.auxLoss);
        }
        PtNDArray[] outs = new PtNDArray[cfg.experts()];
        for (int e = 0; e < outs.length; e++) {
            outs[e] = experts.get(e).forward(Ops.slice(d.tokens, 0, d.offset[e], d.offset[e + 1]));
        }
        return combine(d, Ops.cat(outs, 0), d.gate, ctx);
    }

    /**
     * The routed tokens of one forward: {@code tokens} [S, C] are the kept assignments' hidden states in expert
     * order (expert e's rows are [offset[e], offset[e+1])); {@code gate} [N, k] their mixing weights;
     * {@code position[a]} the row of assignment a in the expert outputs (S for a dropped one); {@code auxLoss}
     * the weighted auxiliary losses (training) or null.
     */
    public record Dispatch(long[] shape, Routing routing, PtNDArray gate, PtNDArray tokens, int[] offset,
            long[] position, PtNDArray auxLoss) {}

    /** Router, routing, gate weights and tokens gathered into expert order (and the auxiliary losses). */
    public Dispatch dispatch(PtNDArray x, ForwardContext ctx) {
        long[] shape = x.getShape().getShape();
        int seqLen = (int) shape[1];
        int n = (int) (shape[0] * shape[1]);
        int e = cfg.experts();
        int k = cfg.topK();
        PtNDArray h = Ops.reshape(x, n, width);
        PtNDArray logits = router.logits(h);
        PtNDArray probs = Ops.softmax(logits, -1);
        float[] p = probs.toFloatArray();
        Routing r = Routing.route(p, seqLen, e, k, cfg.capacityFactor());

        // gate weights [N, k]: the chosen probabilities, renormalised over the k choices when k > 1
        long[] choice = new long[n * k];
        for (int a = 0; a < choice.length; a++) {
            choice[a] = r.expert[a];
        }
        PtNDArray gate = Ops.gather(probs, Ops.longs(ctx.manager(), choice, n, k), 1);
        if (k > 1) {
            gate = JniUtils.div(gate, JniUtils.sum(gate, new long[] {1}, true));
        }

        // dispatch: rows of h in expert order; combine: where each assignment's output sits (S = the zero row)
        int total = 0;
        for (int x0 = 0; x0 < e; x0++) {
            total += r.load(x0);
        }
        long[] rows = new long[total];
        long[] position = new long[n * k];
        Arrays.fill(position, total);
        int[] offset = new int[e + 1];
        for (int x0 = 0; x0 < e; x0++) {
            offset[x0 + 1] = offset[x0] + r.load(x0);
            int[] kept = r.kept[x0];
            for (int i = 0; i < kept.length; i++) {
                rows[offset[x0] + i] = kept[i] / k;
                position[kept[i]] = offset[x0] + i;
            }
        }
        PtNDArray tokens = Ops.embedding(Ops.longs(ctx.manager(), rows, total), h);
        MoeContext moe = MoeContext.of(ctx);
        PtNDArray aux = moe == null ? null : auxiliaryLosses(moe, r, p, logits, probs, ctx);
        return new Dispatch(shape, r, gate, tokens, offset, position, aux);
    }

    /** Runs local expert {@code local} (0-based on this rank) on its rows [n, C]. */
    public PtNDArray runLocalExpert(int local, PtNDArray rows) {
        return experts.get(local).forward(rows);
    }

    /**
     * Each token's output [B, T, C]: its kept assignments' expert outputs ({@code expertOut} [S, C], in dispatch
     * order) mixed by {@code gate} [N, k], dropout applied.
     */
    public PtNDArray combine(Dispatch d, PtNDArray expertOut, PtNDArray gate, ForwardContext ctx) {
        int n = d.routing.tokens;
        int k = cfg.topK();
        PtNDArray zero = Ops.floats(ctx.manager(), new float[(int) width], 1, width);
        PtNDArray table = Ops.cat(new PtNDArray[] {expertOut, zero}, 0); // [S + 1, C]
        PtNDArray picked = Ops.embedding(Ops.longs(ctx.manager(), d.position, n, k), table); // [N, k, C]
        PtNDArray y = Ops.matmul(Ops.reshape(gate, n, 1, k), picked); // [N, 1, C]
        y = Ops.reshape(y, d.shape[0], d.shape[1], width);
        return ctx.dropout(y, dropout, prefix() + ".resid");
    }

    private PtNDArray auxiliaryLosses(MoeContext moe, Routing r, float[] p, PtNDArray logits, PtNDArray probs,
            ForwardContext ctx) {
        int e = cfg.experts();
        int n = r.tokens;
        int seqLen = r.seqLen;
        // logsumexp of the router logits = logit_0 - log_softmax_0
        PtNDArray lse = Ops.sub(Ops.slice(logits, 1, 0, 1), Ops.slice(Ops.logSoftmax(logits, -1), 1, 0, 1));
        float[] lseHost = lse.toFloatArray();
        double zSum = 0;
        for (float v : lseHost) {
            zSum += (double) v * v;
        }
        double auxSum = 0;
        for (int g = 0; g < r.sequences(); g++) {
            auxSum += r.auxLoss(p, g);
        }
        moe.record(moeLayer, r, auxSum, zSum);
        double w = moe.sequenceWeight();
        PtNDArray loss = null;
        if (cfg.auxLossCoef() > 0) {
            // sum_{t,e} probs[t,e] * c[t,e] with c = coef * w * E * f_{g(t),e} / T: coef * w * sum_g aux_g
            float[] c = new float[n * e];
            for (int t = 0; t < n; t++) {
                for (int x0 = 0; x0 < e; x0++) {
                    c[t * e + x0] = (float) (cfg.auxLossCoef() * w * e * r.fraction[t / seqLen][x0] / seqLen);
                }
            }
            loss = Ops.sum(Ops.mul(probs, Ops.floats(ctx.manager(), c, n, e)));
        }
        if (cfg.zLossCoef() > 0) {
            PtNDArray z = Ops.mul(Ops.sum(JniUtils.square(lse)),
                    Ops.scalar(ctx.manager(), (float) (cfg.zLossCoef() * w / seqLen)));
            loss = loss == null ? z : Ops.add(loss, z);
        }
        return loss;
    }
}
