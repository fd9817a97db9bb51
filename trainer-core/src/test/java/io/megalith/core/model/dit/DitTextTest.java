package io.megalith.core.model.dit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.DitPlan;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.Tolerances;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The text-conditioned DiT: only it has the caption parameters (and no class table); padded keys are not read; a
 * dropped row reads the null text alone, exactly as a one-token caption made of null_text; the one-rank two-chain pass
 * computes exactly the whole-graph loss and the same gradient of the token states.
 */
class DitTextTest {
    static final int TEXT = 12;
    static final int TK = 5;
    static final DitConfig CFG = new DitConfig(3, 8, 12, 4, 2, 2, 16, 0, 32, TEXT);
    static final DitConfig POOLED = new DitConfig(3, 8, 12, 4, 2, 2, 16, 0, 32, TEXT, DitConfig.TextPool.LAST);
    private static NDManager root;

    @BeforeAll
    static void load() {
        Torch.load(1);
        root = Torch.newManager();
    }

    @AfterAll
    static void close() {
        root.close();
    }

    /** Rows 0 and 2 padded after 3 and 1 tokens, row 1 whole, row 3 dropped. */
    static DitText text() {
        boolean[] mask = new boolean[4 * TK];
        int[] lengths = {3, TK, 1, 2};
        for (int r = 0; r < 4; r++) {
            for (int k = 0; k < lengths[r]; k++) {
                mask[r * TK + k] = true;
            }
        }
        return new DitText(mask, new boolean[] {false, false, false, true}, 4, TK);
    }

    static float[] forward(Dit model, float[] x, float[] states, DitText text) {
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            int b = text.rows();
            return model.forward(Ops.floats(m, x, b, 3, 8, 12), time(b), Ops.floats(m, states, b, text.tokens(), TEXT),
                    text, ForwardContext.inference(m)).toFloatArray();
        }
    }

    static long[] time(int b) {
        long[] t = new long[b];
        for (int r = 0; r < b; r++) {
            t[r] = 100 + 250L * r;
        }
        return t;
    }

    @Test
    void onlyATextDitHasTheCaptionParameters() {
        List<String> names = new Dit(CFG).parameters().stream().map(Parameter::name).toList();
        assertThat(names).contains("null_text", "text_proj.fc1.weight", "text_proj.fc2.bias",
                "blocks.0.ln_cross.weight", "blocks.1.cross.q.weight", "blocks.1.cross.kv.weight",
                "blocks.0.cross.proj.bias").doesNotContain("label.weight");
        assertThat(new Dit(CFG).textParameters().get(0).shape()).containsExactly(1, TEXT);
        List<String> classNames = new Dit(DitTest.CFG).parameters().stream().map(Parameter::name).toList();
        assertThat(classNames).noneMatch(n -> n.contains("cross") || n.contains("text"));
        assertThat(DitTest.CFG.toString()).doesNotContain("textEmbd");
        assertThatThrownBy(() -> new DitConfig(3, 8, 12, 4, 2, 2, 16, 5, 32, TEXT))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void paddingIsNotReadAndADroppedRowReadsTheNullTextAlone() {
        Dit model = new Dit(CFG);
        DitText text = text();
        int n = 4 * 3 * 8 * 12;
        float[] x = DitTest.random(n, 1);
        float[] states = DitTest.random(4 * TK * TEXT, 2);
        try (ParameterStore store = new ParameterStore(model, root, 3)) {
            DitTest.randomise(store, 4);
            JniUtils.setGradMode(false);
            float[] want = forward(model, x, states, text);
            float[] other = states.clone();
            for (int r = 0; r < 4; r++) {
                for (int k = 0; k < TK; k++) {
                    if (text.dropped()[r] || !text.mask()[r * TK + k]) {
                        for (int j = 0; j < TEXT; j++) {
                            other[(r * TK + k) * TEXT + j] += 3f; // padding and dropped rows' states
                        }
                    }
                }
            }
            assertThat(forward(model, x, other, text)).containsExactly(want);
            // row 3 alone, as a one-token caption made of null_text, not dropped
            float[] nul = store.toHost().get("null_text").toFloats();
            float[] x3 = new float[n / 4];
            System.arraycopy(x, 3 * (n / 4), x3, 0, n / 4);
            float[] alone;
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                alone = model.forward(Ops.floats(m, x3, 1, 3, 8, 12), new long[] {time(4)[3]},
                        Ops.floats(m, nul, 1, 1, TEXT), DitText.unpadded(1, 1), ForwardContext.inference(m))
                        .toFloatArray();
            }
            float[] row3 = new float[n / 4];
            System.arraycopy(want, 3 * (n / 4), row3, 0, n / 4);
            Tolerances.assertCloseToLargest(row3, alone, "the dropped row");
            assertThat(alone).isNotEqualTo(new float[n / 4]);
        }
    }

    @Test
    void aPooledDitReadsTheCaptionThroughCAndOtherwiseComputesAsWithoutIt() {
        DitText text = text();
        assertThat(text.poolWeights(true)).containsExactly(0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0);
        float third = 1f / 3;
        assertThat(text.poolWeights(false)).containsExactly(third, third, third, 0, 0, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f,
                1, 0, 0, 0, 0, 1, 0, 0, 0, 0);
        assertThat(POOLED.toString()).contains("textPool=LAST");
        assertThat(CFG.toString()).doesNotContain("textPool");
        assertThatThrownBy(() -> new DitConfig(3, 8, 12, 4, 2, 2, 16, 5, 32, 0, DitConfig.TextPool.LAST))
                .isInstanceOf(IllegalArgumentException.class);
        Dit plain = new Dit(CFG);
        Dit pooled = new Dit(POOLED);
        int n = 4 * 3 * 8 * 12;
        float[] x = DitTest.random(n, 21);
        float[] states = DitTest.random(4 * TK * TEXT, 22);
        try (ParameterStore plainStore = new ParameterStore(plain, root, 3);
                ParameterStore pooledStore = new ParameterStore(pooled, root, 3)) {
            DitTest.randomise(plainStore, 23);
            JniUtils.setGradMode(false);
            float[] want = forward(plain, x, states, text);
            Map<String, HostTensor> weights = withoutPool(plainStore.toHost());
            pooledStore.load(weights);
            Tolerances.assertCloseToLargest(want, forward(pooled, x, states, text), "text_pool 0: the plain DiT");
            DitTest.randomise(pooledStore, 23);
            float[] read = forward(pooled, x, states, text);
            float[] other = states.clone();
            for (int j = 0; j < TEXT; j++) {
                other[(0 * TK + 4) * TEXT + j] += 3f; // row 0's padding
                other[(3 * TK + 1) * TEXT + j] += 3f; // the dropped row's states
            }
            assertThat(forward(pooled, x, other, text)).containsExactly(read);
            pooledStore.load(withoutPool(pooledStore.toHost()));
            assertThat(forward(pooled, x, states, text)).as("the pooled caption moves c").isNotEqualTo(read);
        }
    }

    /** {@code weights} with text_pool zeroed (added where missing). */
    private static Map<String, HostTensor> withoutPool(Map<String, HostTensor> weights) {
        Map<String, HostTensor> out = new LinkedHashMap<>(weights);
        out.put("text_pool.weight", HostTensor.ofFloats(new float[16 * 16], new long[] {16, 16}));
        out.put("text_pool.bias", HostTensor.ofFloats(new float[16], new long[] {16}));
        return out;
    }

    @Test
    void theOneRankTwoChainPassComputesTheLossAndTheStatesGradient() {
        twoChainPassMatchesTheModel(CFG);
        twoChainPassMatchesTheModel(POOLED);
    }

    private static void twoChainPassMatchesTheModel(DitConfig cfg) {
        Dit model = new Dit(cfg);
        DitText text = text();
        int b = text.rows();
        int n = b * 3 * 8 * 12;
        DitBatch batch = new DitBatch(DitTest.random(n, 5), time(b), new long[b], DitTest.random(n, 6), b);
        float[] states = DitTest.random(b * TK * TEXT, 7);
        try (ParameterStore store = new ParameterStore(model, root, 9)) {
            DitTest.randomise(store, 13);
            float want;
            float[] wantGrad;
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                JniUtils.setGradMode(true);
                PtNDArray s = Ops.floats(m, states, b, TK, TEXT);
                JniUtils.attachGradient(s, true);
                PtNDArray loss = Dit.mse(model.forward(Ops.floats(m, batch.noised(), b, 3, 8, 12), batch.t(), s, text,
                        new ForwardContext(true, 1, m)), Ops.floats(m, batch.target(), b, 3, 8, 12));
                want = loss.getFloat();
                JniUtils.backward(loss, Ops.scalar(m, 1f), false, false);
                wantGrad = JniUtils.getGradient(s).toFloatArray();
                JniUtils.setGradMode(false);
            }
            store.zeroGradients();
            ParallelDit chain = DitPlan.apply(model, Placement.SINGLE);
            float got;
            float[] gotGrad;
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray s = Ops.floats(m, states, b, TK, TEXT);
                JniUtils.attachGradient(s, true);
                ParallelDit.TextChains c = chain.textSegments(batch, text, m);
                got = SegmentedPass.runTwoChains(List.of(c.text()), s, c.dit(), chain.input(batch, m),
                        new ForwardContext(true, 1, m), 1f, SegmentedPass.NO_HOOKS, SegmentedPass.Recompute.NONE, null);
                gotGrad = JniUtils.getGradient(s).toFloatArray();
            }
            assertThat(want).isGreaterThan(0f);
            assertThat(got).isEqualTo(want);
            Tolerances.assertCloseToLargest(wantGrad, gotGrad, "d states");
            float rowDropped = 0;
            for (int i = 3 * TK * TEXT; i < 4 * TK * TEXT; i++) {
                rowDropped = Math.max(rowDropped, Math.abs(gotGrad[i]));
            }
            assertThat(rowDropped).as("a dropped row's states get no gradient").isEqualTo(0f);
        }
    }
}
