package io.megalith.core.model.dit;

import static org.assertj.core.api.Assertions.assertThat;

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
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The DiT: patchify and unpatchify are inverse and lay patches out as a strided conv reads them; a fresh model
 * outputs exactly 0 and every fresh block is the identity (adaLN-Zero); parameters are named as documented and
 * initialised by name; the one-rank segment chain computes exactly {@link Dit#loss}.
 */
class DitTest {
    static final DitConfig CFG = new DitConfig(3, 8, 12, 4, 2, 2, 16, 5, 32);
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

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) r.nextGaussian();
        }
        return out;
    }

    /** Every parameter set to noise (norm-free model: no parameter needs to start at 1). */
    static void randomise(ParameterStore store, long seed) {
        FloatBuffer v = store.values();
        float[] r = random((int) store.numel(), seed);
        for (int i = 0; i < r.length; i++) {
            v.put(i, 0.2f * r[i]);
        }
    }

    @Test
    void patchifyThenUnpatchifyIsTheIdentityAndPatchesAreConvOrdered() {
        int b = 2;
        int c = 3;
        int h = 8;
        int w = 12;
        int p = 4;
        float[] x = random(b * c * h * w, 1);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            PtNDArray patches = Dit.patchify(Ops.floats(m, x, b, c, h, w), p);
            assertThat(patches.getShape().getShape()).containsExactly(b, (h / p) * (w / p), c * p * p);
            float[] got = patches.toFloatArray();
            int gw = w / p;
            // token (gr, gc), feature (ch, i, j) = x[n, ch, gr p + i, gc p + j]
            for (int n = 0; n < b; n++) {
                for (int tok = 0; tok < (h / p) * gw; tok++) {
                    for (int ch = 0; ch < c; ch++) {
                        for (int i = 0; i < p; i++) {
                            for (int j = 0; j < p; j++) {
                                int row = (tok / gw) * p + i;
                                int col = (tok % gw) * p + j;
                                float want = x[((n * c + ch) * h + row) * w + col];
                                int f = (ch * p + i) * p + j;
                                assertThat(got[(n * (h / p) * gw + tok) * c * p * p + f]).isEqualTo(want);
                            }
                        }
                    }
                }
            }
            assertThat(Dit.unpatchify(patches, c, h, w, p).toFloatArray()).containsExactly(x);
        }
    }

    @Test
    void aFreshDitOutputsExactlyZeroAndItsBlocksAreTheIdentity() {
        Dit model = new Dit(CFG);
        int b = 3;
        try (ParameterStore store = new ParameterStore(model, root, 7);
                NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            JniUtils.setGradMode(false);
            ForwardContext ctx = ForwardContext.inference(m);
            PtNDArray x = Ops.floats(m, random(b * 3 * 8 * 12, 2), b, 3, 8, 12);
            float[] out = model.forward(x, new long[] {0, 500, 999}, new long[] {1, 4, 5}, ctx).toFloatArray();
            assertThat(out).hasSize(b * 3 * 8 * 12);
            for (float v : out) {
                assertThat(Math.abs(v)).isEqualTo(0f);
            }
            PtNDArray tokens = Ops.floats(m, random(b * 6 * 16, 3), b, 6, 16);
            PtNDArray c = model.condition(new long[] {3, 4, 5}, new long[] {0, 1, 2}, m);
            for (DitBlock block : model.blocks()) {
                assertThat(block.forward(tokens, c, ctx).toFloatArray()).containsExactly(tokens.toFloatArray());
            }
        }
    }

    @Test
    void parametersAreNamedAndInitialisedByName() {
        Dit a = new Dit(CFG);
        List<String> names = a.parameters().stream().map(Parameter::name).toList();
        assertThat(names).startsWith("patch.weight", "patch.bias", "time.fc1.weight", "time.fc1.bias",
                "time.fc2.weight", "time.fc2.bias", "label.weight", "blocks.0.attn.qkv.weight");
        assertThat(names).contains("blocks.1.mlp.fc.weight", "blocks.1.mlp.proj.bias", "blocks.1.modulation.weight");
        assertThat(names).endsWith("final.modulation.weight", "final.modulation.bias", "final.linear.weight",
                "final.linear.bias");
        Parameter label = a.parameters().get(6);
        assertThat(label.shape()).containsExactly(CFG.classes() + 1, CFG.nEmbd()); // + the null class
        try (ParameterStore one = new ParameterStore(a, root, 5);
                ParameterStore two = new ParameterStore(new Dit(CFG), root, 5)) {
            float[] va = new float[(int) one.numel()];
            float[] vb = new float[(int) two.numel()];
            one.values().get(va);
            two.values().get(vb);
            assertThat(vb).containsExactly(va);
            float[] w = one.toHost().get("blocks.0.attn.qkv.weight").toFloats();
            float[] wantFirst = new float[w.length];
            a.parameters().get(7).initialValues(5, wantFirst);
            assertThat(w).containsExactly(wantFirst);
            assertThat(one.toHost().get("blocks.1.modulation.weight").toFloats()).containsOnly(0f);
        }
    }

    @Test
    void theOneRankChainComputesExactlyTheLoss() {
        Dit model = new Dit(CFG);
        int b = 2;
        int n = b * 3 * 8 * 12;
        DitBatch batch = new DitBatch(random(n, 4), new long[] {10, 700}, new long[] {2, 5}, random(n, 5), b);
        try (ParameterStore store = new ParameterStore(model, root, 9)) {
            randomise(store, 13);
            float want;
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray target = Ops.floats(m, batch.target(), b, 3, 8, 12);
                want = model.loss(Ops.floats(m, batch.noised(), b, 3, 8, 12), batch.t(), batch.labels(), target,
                        ForwardContext.inference(m)).getFloat();
            }
            ParallelDit chain = DitPlan.apply(model, Placement.SINGLE);
            float got;
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                got = SegmentedPass.run(chain.segments(batch, m), chain.input(batch, m), new ForwardContext(true, 1, m),
                        1f, SegmentedPass.NO_HOOKS, SegmentedPass.Recompute.NONE);
            }
            assertThat(want).isGreaterThan(0f);
            assertThat(got).isEqualTo(want);
        }
    }
}
