package io.megalith.core.model.vit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.ParallelVit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.parallelize.VitPlan;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The one-rank ViT: output shapes and parameter names under each pooling and position kind; the patch embedding is a
 * stride-P convolution; MAE's sin-cos table; its plan's segment chain at one rank is the whole-graph loss (loss and
 * every gradient).
 */
class VitTest {
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

    static VitConfig config(VitConfig.Pool pool, VitConfig.Positions pos) {
        // 2 channels of 8x12 images, 4x4 patches: a 2x3 grid
        return new VitConfig(8, 12, 2, 4, 5, 2, 4, 16, 0.1, true, pool, pos);
    }

    static float[] pixels(int n, VitConfig c, long seed) {
        Random r = new Random(seed);
        float[] px = new float[n * c.channels() * c.height() * c.width()];
        for (int i = 0; i < px.length; i++) {
            px[i] = (float) r.nextGaussian();
        }
        return px;
    }

    @ParameterizedTest
    @CsvSource({"CLS,LEARNED", "CLS,SINCOS", "MEAN,LEARNED", "MEAN,SINCOS"})
    void logitsPerImageAndNames(VitConfig.Pool pool, VitConfig.Positions pos) {
        VitConfig c = config(pool, pos);
        Vit vit = new Vit(c);
        assertThat(c.patches()).isEqualTo(6);
        assertThat(c.tokens()).isEqualTo(pool == VitConfig.Pool.CLS ? 7 : 6);
        List<String> names = vit.parameters().stream().map(Parameter::name).toList();
        assertThat(names).contains("patch_embed.weight", "patch_embed.bias", "layers.0.attn.qkv.weight",
                "layers.1.mlp.proj.weight", "ln_f.weight", "head.weight", "head.bias");
        assertThat(names.contains("cls_token")).isEqualTo(pool == VitConfig.Pool.CLS);
        assertThat(names.contains("pos_embed")).isEqualTo(pos == VitConfig.Positions.LEARNED);
        try (ParameterStore store = new ParameterStore(vit, root, 3); NDScope scope = new NDScope();
                NDManager m = root.newSubManager()) {
            ForwardContext ctx = new ForwardContext(true, 9, m);
            PtNDArray images = Vit.pixels(m, pixels(3, c, 1), 3, c);
            assertThat(vit.encoder().embed(images, ctx).getShape().getShape()).containsExactly(3, c.tokens(), 16);
            PtNDArray logits = vit.logits(images, ctx);
            assertThat(logits.getShape().getShape()).containsExactly(3, 5);
            assertThat(Arrays.stream(Vit.argmax(logits)).boxed().toList()).hasSize(3).allMatch(k -> k >= 0 && k < 5);
            float loss = vit.loss(images, new long[] {0, 4, 2}, ctx).getFloat();
            assertThat(loss).as("about ln 5 at init").isBetween(1.0f, 2.5f);
        }
    }

    /** patch_embed(patchify(x)) = conv2d(x, W reshaped [C', C, P, P], stride P), computed here by loops. */
    @Test
    void patchEmbeddingIsAStridedConvolution() {
        VitConfig c = config(VitConfig.Pool.MEAN, VitConfig.Positions.LEARNED);
        Vit vit = new Vit(c);
        int n = 2;
        int p = c.patch();
        int gw = c.width() / p;
        float[] px = pixels(n, c, 2);
        try (ParameterStore store = new ParameterStore(vit, root, 4); NDScope scope = new NDScope();
                NDManager m = root.newSubManager()) {
            float[] w = vit.encoder().patchEmbed().weight().value().toFloatArray(); // [C', C P P]
            float[] got = vit.encoder().patchEmbed().forward(vit.encoder().patchify(Vit.pixels(m, px, n, c))).toFloatArray();
            int out = c.nEmbd();
            for (int b = 0; b < n; b++) {
                for (int patch = 0; patch < c.patches(); patch++) {
                    int gy = patch / gw;
                    int gx = patch % gw;
                    for (int o = 0; o < out; o++) {
                        double sum = 0; // bias 0 at init
                        for (int ch = 0; ch < c.channels(); ch++) {
                            for (int i = 0; i < p; i++) {
                                for (int j = 0; j < p; j++) {
                                    int row = (b * c.channels() + ch) * c.height() + gy * p + i;
                                    float x = px[row * c.width() + gx * p + j];
                                    sum += w[o * c.patchDim() + (ch * p + i) * p + j] * x;
                                }
                            }
                        }
                        assertThat(got[(b * c.patches() + patch) * out + o]).isCloseTo((float) sum,
                                Offset.offset(1e-5f));
                    }
                }
            }
        }
    }

    @Test
    void sinCosPositionsEncodeRowThenColumn() {
        VitConfig c = config(VitConfig.Pool.CLS, VitConfig.Positions.SINCOS);
        float[] t = ImageEncoder.sinCos(c);
        int w = c.nEmbd();
        int q = w / 4;
        for (int j = 0; j < w; j++) {
            assertThat(t[j]).as("[CLS] has no position").isZero();
        }
        // token 1 + 5 is patch 5: grid row 1, column 2; frequency k = 0 is 1
        int at = (1 + 5) * w;
        assertThat(t[at]).isCloseTo((float) Math.sin(1), Offset.offset(1e-6f));
        assertThat(t[at + q]).isCloseTo((float) Math.cos(1), Offset.offset(1e-6f));
        assertThat(t[at + 2 * q]).isCloseTo((float) Math.sin(2), Offset.offset(1e-6f));
        assertThat(t[at + 3 * q]).isCloseTo((float) Math.cos(2), Offset.offset(1e-6f));
        assertThat(t[at + 1]).isCloseTo((float) Math.sin(Math.pow(10000, -1.0 / q)), Offset.offset(1e-6f));
        assertThatThrownBy(() -> new VitConfig(8, 8, 1, 4, 2, 1, 2, 6, 0, true, VitConfig.Pool.CLS,
                VitConfig.Positions.SINCOS)).hasMessageContaining("model.pos_emb");
        assertThatThrownBy(() -> new VitConfig(8, 8, 1, 3, 2, 1, 2, 8, 0, true, VitConfig.Pool.CLS,
                VitConfig.Positions.LEARNED)).hasMessageContaining("model.patch_size: 3 does not divide");
    }

    record Run(float loss, Map<String, float[]> grads) {}

    static Run run(ParameterStore store, Function<ForwardContext, Float> pass) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            float loss = pass.apply(new ForwardContext(true, 42, 3, m));
            Map<String, float[]> g = new LinkedHashMap<>();
            for (Parameter p : store.parameters()) {
                PtNDArray grad = store.gradient(p);
                g.put(p.name(), grad == null ? null : grad.toFloatArray());
            }
            store.zeroGradients();
            return new Run(loss, g);
        }
    }

    @ParameterizedTest
    @CsvSource({"CLS,LEARNED", "MEAN,SINCOS"})
    void segmentsAreTheWholeGraphLoss(VitConfig.Pool pool, VitConfig.Positions pos) {
        VitConfig c = config(pool, pos);
        Vit vit = new Vit(c);
        ParallelVit parallel = VitPlan.apply(vit, Placement.SINGLE);
        int b = 4;
        float[] px = pixels(b, c, 3);
        long[] labels = {0, 4, 1, 2};
        try (ParameterStore store = new ParameterStore(vit, root, 7)) {
            Run whole = run(store, ctx -> {
                JniUtils.setGradMode(true);
                PtNDArray loss = vit.loss(Vit.pixels(ctx.manager(), px, b, c), labels, ctx);
                JniUtils.setGradMode(false);
                JniUtils.backward(loss, Ops.scalar(loss.getManager(), 1f), false, false);
                return loss.getFloat();
            });
            for (SegmentedPass.Recompute rc : SegmentedPass.Recompute.values()) {
                Run seg = run(store, ctx -> SegmentedPass.run(parallel.segments(labels, ctx.manager(), 1f),
                        Vit.pixels(ctx.manager(), px, b, c), ctx, 1f, SegmentedPass.NO_HOOKS, rc, null));
                assertThat(seg.loss()).as("%s loss", rc).isEqualTo(whole.loss());
                whole.grads().forEach((name, want) -> {
                    assertThat(want).as("gradient of %s", name).isNotNull();
                    float[] got = seg.grads().get(name);
                    float scale = 1e-12f;
                    for (float v : want) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    assertThat(scale).as("%s learns", name).isGreaterThan(1e-12f);
                    for (int i = 0; i < want.length; i++) {
                        assertThat(Math.abs(got[i] - want[i])).as("%s d %s[%d]", rc, name, i)
                                .isLessThanOrEqualTo(1e-6f * scale);
                    }
                });
            }
            Run half = run(store, ctx -> SegmentedPass.run(parallel.segments(labels, ctx.manager(), 0.5f),
                    Vit.pixels(ctx.manager(), px, b, c), ctx, 1f, SegmentedPass.NO_HOOKS, SegmentedPass.Recompute.NONE,
                    null));
            assertThat(half.loss()).isCloseTo(whole.loss() / 2, Offset.offset(1e-6f));
        }
        Set<Parameter> planned = new HashSet<>();
        for (Segment s : parallel.segments(null, null, 1f)) {
            planned.addAll(s.parameters());
        }
        assertThat(planned).containsExactlyInAnyOrderElementsOf(vit.parameters());
    }
}
