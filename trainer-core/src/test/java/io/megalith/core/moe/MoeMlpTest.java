package io.megalith.core.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The MoE block against a token-by-token reference (dispatch, capacity, gates, combine), its auxiliary losses
 * against the formulas computed here from the router's logits, and its gradients through the segment runner (the
 * auxiliary loss added to a segment's backward) against one backward through the whole graph.
 */
class MoeMlpTest {
    static final int C = 8;

    @ParameterizedTest(name = "top-{0}, capacity factor {1}, {2} experts")
    @CsvSource({"1, 1.0, 4", "2, 1.0, 4", "1, 0, 4", "2, 0, 4", "1, 1.25, 8", "2, 0.5, 3"})
    void forwardIsTheWeightedSumOfEachTokensKeptExperts(int k, double factor, int experts) {
        Torch.load(1);
        MegalithConfig.Moe cfg = new MegalithConfig.Moe(1, experts, k, factor, 0.01, 0.001);
        int b = 2;
        int t = 5;
        try (NDManager root = Torch.newManager()) {
            MoeMlp moe = new MoeMlp("moe", cfg, 0, C, true, 0.0, 2);
            new ParameterStore(moe, root, 3);
            try (NDScope s = new NDScope(); NDManager m = root.newSubManager()) {
                float[] xs = random(b * t * C, 1);
                PtNDArray x = Ops.floats(m, xs, b, t, C);
                MoeStats stats = new MoeStats(1, experts);
                ForwardContext ctx = new ForwardContext(true, 1, 0, m).withMoe(new MoeContext(1.0 / b, stats));
                float[] y = moe.forward(x, ctx).toFloatArray();

                PtNDArray flat = Ops.reshape(x, b * t, C);
                float[] logits = moe.router().logits(flat).toFloatArray();
                float[] probs = Ops.softmax(Ops.reshape(Ops.floats(m, logits, b * t, experts), b * t, experts), -1)
                        .toFloatArray();
                Routing r = Routing.route(probs, t, experts, k, factor);
                double[] want = new double[b * t * C];
                for (int tok = 0; tok < b * t; tok++) {
                    double norm = 0;
                    for (int j = 0; j < k; j++) {
                        norm += probs[tok * experts + r.expert[tok * k + j]];
                    }
                    for (int j = 0; j < k; j++) {
                        int a = tok * k + j;
                        if (r.slot[a] < 0) {
                            continue;
                        }
                        double w = probs[tok * experts + r.expert[a]] / (k == 1 ? 1 : norm);
                        float[] out = moe.expert(r.expert[a]).forward(Ops.slice(flat, 0, tok, tok + 1)).toFloatArray();
                        for (int c = 0; c < C; c++) {
                            want[tok * C + c] += w * out[c];
                        }
                    }
                }
                for (int i = 0; i < want.length; i++) {
                    assertThat((double) y[i]).as("element %d", i).isCloseTo(want[i], within(1e-6));
                }
                if (factor == 0) {
                    assertThat(stats.dropFraction()).isZero();
                }
                assertThat(stats.dropFraction()).isCloseTo((double) r.dropped / (b * t * k), within(1e-12));

                // load balancing: E sum_e f_e P_e per sequence; z: mean over tokens of logsumexp(logits)^2
                double aux = 0;
                for (int g = 0; g < b; g++) {
                    double[] f = new double[experts];
                    double[] pm = new double[experts];
                    for (int tok = g * t; tok < (g + 1) * t; tok++) {
                        for (int j = 0; j < k; j++) {
                            f[r.expert[tok * k + j]] += 1.0 / (t * k);
                        }
                        for (int e = 0; e < experts; e++) {
                            pm[e] += probs[tok * experts + e] / t;
                        }
                    }
                    double sum = 0;
                    for (int e = 0; e < experts; e++) {
                        sum += f[e] * pm[e];
                    }
                    aux += experts * sum / b;
                }
                double z = 0;
                for (int tok = 0; tok < b * t; tok++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int e = 0; e < experts; e++) {
                        max = Math.max(max, logits[tok * experts + e]);
                    }
                    double se = 0;
                    for (int e = 0; e < experts; e++) {
                        se += Math.exp(logits[tok * experts + e] - max);
                    }
                    double lse = max + Math.log(se);
                    z += lse * lse / (b * t);
                }
                assertThat(stats.auxLoss()).isCloseTo(aux, within(1e-6));
                assertThat(stats.zLoss()).isCloseTo(z, within(1e-6));
                // the loss handed to the trainer: coefficients times means over this pass's b sequences
                float added = ctx.moe().takeLoss().getFloat();
                assertThat((double) added).isCloseTo(0.01 * aux + 0.001 * z, within(1e-6));
                long kept = 0;
                for (int e = 0; e < experts; e++) {
                    kept += r.load(e);
                }
                assertThat(stats.maxExpertTokens()).isLessThanOrEqualTo(b * (long) r.capacity);
                assertThat(kept).isEqualTo((long) b * t * k - r.dropped);
            }
        }
    }

    record Outcome(float loss, float[] grads, MoeStats stats) {}

    /** mode 0: one backward of 0.5 loss + aux over the whole graph; 1: segment by segment; 2: recomputing. */
    static Outcome train(int mode, int k, double factor) {
        Torch.load(1);
        int b = 2;
        int t = 4;
        // 24 experts for at most 16 assignments: some experts get no token, and must still work
        GptConfig cfg = new GptConfig(11, t, 2, 2, 16, 0.1, true, new MegalithConfig.Moe(1, 24, k, factor, 0.1, 0.01));
        try (NDManager root = Torch.newManager()) {
            Gpt gpt = new Gpt(cfg);
            ParameterStore store = new ParameterStore(gpt, root, 13);
            gpt.initConstants(root);
            Random r = new Random(5);
            long[] ids = new long[b * t];
            long[] tg = new long[b * t];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(11);
                tg[i] = r.nextInt(11);
            }
            MoeStats stats = new MoeStats(2, 24);
            float loss;
            try (NDScope s = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray x = Ops.longs(m, ids, b, t);
                Targets targets = Targets.of(m, tg);
                ForwardContext ctx = new ForwardContext(true, 99, 0, m).withMoe(new MoeContext(1.0 / b, stats));
                if (mode == 0) {
                    JniUtils.setGradMode(true);
                    PtNDArray l = gpt.loss(x, targets, ctx);
                    PtNDArray total = Ops.add(Ops.mul(l, Ops.scalar(m, 0.5f)), ctx.moe().takeLoss());
                    JniUtils.setGradMode(false);
                    JniUtils.backward(total, Ops.scalar(m, 1f), false, false);
                    loss = l.getFloat();
                } else {
                    loss = SegmentedPass.run(GptPlan.apply(gpt, Placement.SINGLE).segments(targets), x, ctx, 0.5f,
                            SegmentedPass.NO_HOOKS, mode == 2);
                }
            }
            FloatBuffer g = ByteBuffer.allocateDirect((int) store.numel() * 4).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            store.copyGradients(g);
            float[] grads = new float[g.remaining()];
            g.get(grads);
            return new Outcome(loss, grads, stats);
        }
    }

    @ParameterizedTest(name = "top-{0}, capacity factor {1}")
    @CsvSource({"1, 1.0", "2, 1.25", "2, 0"})
    void segmentWiseGradientsIncludeTheAuxiliaryLosses(int k, double factor) {
        Outcome whole = train(0, k, factor);
        Outcome segments = train(1, k, factor);
        Outcome recomputed = train(2, k, factor);
        assertThat(segments.loss()).isEqualTo(whole.loss());
        assertThat(recomputed.loss()).isEqualTo(whole.loss());
        double max = 0;
        for (float v : whole.grads()) {
            max = Math.max(max, Math.abs(v));
        }
        for (int i = 0; i < whole.grads().length; i++) {
            assertThat((double) segments.grads()[i]).as("gradient %d", i).isCloseTo(whole.grads()[i], within(1e-6 * max));
            assertThat((double) recomputed.grads()[i]).as("gradient %d", i).isCloseTo(whole.grads()[i], within(1e-6 * max));
        }
        // statistics count each forward once, recomputation or not
        assertThat(recomputed.stats().toArray()).containsExactly(whole.stats().toArray());
        assertThat(segments.stats().toArray()).containsExactly(whole.stats().toArray());
        assertThat(whole.stats().minExpertTokens()).as("some expert saw no token").isZero();
    }

    @Test
    void theAuxiliaryLossesReachTheRouter() {
        // with coefficients 0 and no LM loss gradient the router would get only the LM's gradient; compare
        Outcome with = train(1, 1, 1.0);
        assertThat(with.grads()).isNotEqualTo(new float[with.grads().length]);
    }

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }
}
