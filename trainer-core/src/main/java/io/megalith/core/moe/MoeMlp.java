package io.megalith.core.moe;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
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

    /** The MoE block of the {@code moeLayer}-th MoE layer (counting MoE layers only). */
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

    public Router router() {
        return router;
    }

    public Expert expert(int e) {
        return experts.get(e);
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
        java.util.Arrays.fill(position, total);
        int[] offset = new int[e + 1];
        for (int x0 = 0; x0 < e; x0++) {
            offset[x0 + 1] = offset[x0] + r.load(x0);
            int[] kept = r.kept[x0];
            for (int i = 0; i < kept.length; i++) {
                rows[offset[x0] + i] = kept[i] / k;
                position[kept[i]] = offset[x0] + i;
            }
        }
        PtNDArray dispatched = Ops.embedding(Ops.longs(ctx.manager(), rows, total), h);
        PtNDArray[] outs = new PtNDArray[e + 1];
        for (int x0 = 0; x0 < e; x0++) {
            outs[x0] = experts.get(x0).forward(Ops.slice(dispatched, 0, offset[x0], offset[x0 + 1]));
        }
        outs[e] = Ops.floats(ctx.manager(), new float[(int) width], 1, width);
        PtNDArray expertOut = Ops.cat(outs, 0); // [S + 1, C]
        PtNDArray picked = Ops.embedding(Ops.longs(ctx.manager(), position, n, k), expertOut); // [N, k, C]
        PtNDArray y = Ops.matmul(Ops.reshape(gate, n, 1, k), picked); // [N, 1, C]
        y = Ops.reshape(y, shape[0], shape[1], width);

        MoeContext moe = ctx.moe();
        if (moe != null) {
            auxiliaryLosses(moe, r, p, logits, probs, ctx);
        }
        return ctx.dropout(y, dropout, prefix() + ".resid");
    }

    private void auxiliaryLosses(MoeContext moe, Routing r, float[] p, PtNDArray logits, PtNDArray probs,
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
        if (loss != null) {
            moe.addLoss(loss);
        }
    }
}
