package io.megalith.core.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.FeedForward;
import io.megalith.core.model.transformer.MultiHeadAttention;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.function.ToDoubleFunction;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Finite-difference checks of libtorch's autograd through our modules.
 *
 * <p>Parameters are float32 (the store's flat buffer), so the checks run in float32 with central
 * differences. To keep them sharp: the scalar objective sum(out * w) is reduced on the host in double
 * (its analytic gradient is backward with upstream gradient w), the step actually taken is measured
 * as the difference of the two rounded float32 values, central differences at h and 2h are combined by
 * Richardson extrapolation (so a step large enough to drown float32 rounding noise, h = 2e-2, leaves
 * no O(h^2) truncation error; observed errors are below 2.5e-3), and parameters are re-drawn at a scale where
 * every path is non-trivial (attention far from uniform, LayerNorm scales and biases away from 1 and
 * 0). Each check also verifies that a slightly wrong analytic gradient (2% too large, or shifted by one
 * coordinate) fails, so the tolerance is known to discriminate.
 */
class GradientCheckTest {
    private static final double STEP = 2e-2;
    private static final double TOLERANCE = 1e-2;
    private static final int COORDINATES = 24;
    private static NDManager root;

    @BeforeAll
    static void loadTorch() {
        Torch.load(1);
        root = Torch.newManager();
    }

    @AfterAll
    static void closeManager() {
        root.close();
    }

    @Test
    void causalSelfAttention() {
        GptConfig cfg = new GptConfig(11, 8, 2, 4, 16, 0.0, true);
        MultiHeadAttention attn = new MultiHeadAttention("attn", cfg.layerSpec(LoraConfig.NONE), false);
        Gpt consts = new Gpt(cfg);
        consts.initConstants(root);
        attn.initConstants(root);
        // T = 5 < block_size: the causal mask is a slice of the precomputed one
        Case c = new Case(attn, (x, m) -> attn.forward(x, null, consts.causalMask(0, 5), ForwardContext.inference(m),
                null), 2, 5, 16);
        c.checkAll();
    }

    @Test
    void layerNormWithBias() {
        LayerNorm ln = new LayerNorm("ln", 16, true);
        Case c = new Case(ln, (x, m) -> ln.forward(x), 2, 3, 16);
        assertThat(c.names()).containsExactly("ln.weight", "ln.bias");
        c.checkAll();
    }

    @Test
    void layerNormWithoutBias() {
        LayerNorm ln = new LayerNorm("ln", 16, false);
        Case c = new Case(ln, (x, m) -> ln.forward(x), 2, 3, 16);
        assertThat(c.names()).containsExactly("ln.weight");
        c.checkAll();
    }

    @Test
    void mlp() {
        GptConfig cfg = new GptConfig(11, 8, 2, 4, 16, 0.0, true);
        FeedForward mlp = new FeedForward("mlp", cfg.layerSpec(LoraConfig.NONE));
        Case c = new Case(mlp, (x, m) -> mlp.forward(x, ForwardContext.inference(m)), 2, 3, 16);
        // store order: weight-decayed matrices first
        assertThat(c.names()).containsExactly("mlp.fc.weight", "mlp.proj.weight", "mlp.fc.bias", "mlp.proj.bias");
        c.checkAll();
    }

    @Test
    void block() {
        GptConfig cfg = new GptConfig(11, 8, 1, 2, 16, 0.0, false);
        TransformerLayer block = new TransformerLayer("blocks.0", cfg.layerSpec(LoraConfig.NONE), 0, false);
        Gpt consts = new Gpt(cfg);
        consts.initConstants(root);
        block.attn().initConstants(root);
        Case c = new Case(block, (x, m) -> block.forward(x, consts.causalMask(0, 8), null, null,
                ForwardContext.inference(m), null, null), 2, 8, 16);
        c.checkAll();
    }

    @Test
    void gptLossIncludingTiedEmbedding() {
        checkGptLoss(new GptConfig(11, 8, 2, 2, 16, 0.0, true), false);
    }

    /** Dropout masks are a pure function of the context's key, so the training loss is differentiable too. */
    @Test
    void gptLossWithDropoutInTraining() {
        checkGptLoss(new GptConfig(11, 8, 2, 2, 16, 0.2, false), true);
    }

    private void checkGptLoss(GptConfig cfg, boolean training) {
        Gpt gpt = new Gpt(cfg);
        gpt.initConstants(root);
        int b = 2;
        int t = 6;
        Random r = new Random(7);
        long[] ids = new long[b * t];
        long[] targets = new long[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(cfg.vocabSize());
            targets[i] = i % 5 == 3 ? -1 : r.nextInt(cfg.vocabSize()); // some ignored targets
        }
        // backward through Gpt.loss; finite differences of the same loss recomputed in double on the host
        // from Gpt.logits (a float32 scalar loss would drown small gradients in rounding noise)
        Case c = new Case(gpt, (x, m) -> gpt.loss(Ops.longs(m, ids, b, t), Targets.of(m, targets),
                new ForwardContext(training, 42, m)));
        c.hostObjective((x, m) -> gpt.logits(Ops.longs(m, ids, b, t), new ForwardContext(training, 42, m)),
                logits -> crossEntropy(logits, targets, cfg.vocabSize()));
        assertThat(c.deviceValue()).as("Gpt.loss equals the mean cross-entropy of Gpt.logits")
                .isCloseTo(c.objective(), Offset.offset(1e-5));
        Map<String, float[]> analytic = c.analytic();
        for (String name : List.of("wte.weight", "wpe.weight", "blocks.0.attn.qkv.weight", "blocks.1.attn.proj.weight",
                "blocks.1.mlp.fc.weight", "blocks.0.ln1.weight", "ln_f.weight")) {
            c.check(name, analytic.get(name));
        }
        if (cfg.bias()) {
            c.check("blocks.0.mlp.proj.bias", analytic.get("blocks.0.mlp.proj.bias"));
            c.check("ln_f.bias", analytic.get("ln_f.bias"));
        }
        // wte rows of tokens that never occur as inputs get gradient only through the tied head;
        // rows of input tokens get both: check one of each explicitly.
        int unused = 0;
        while (contains(ids, unused)) {
            unused++;
        }
        assertThat(unused).isLessThan(cfg.vocabSize());
        float[] headOnly = Arrays.copyOfRange(analytic.get("wte.weight"), unused * cfg.nEmbd(),
                (unused + 1) * cfg.nEmbd());
        assertThat(headOnly).as("the head's gradient reaches the tied wte").isNotEqualTo(new float[cfg.nEmbd()]);
        c.checkRow("wte.weight", analytic.get("wte.weight"), unused, cfg.nEmbd());
        c.checkRow("wte.weight", analytic.get("wte.weight"), (int) ids[0], cfg.nEmbd());
    }

    /** Mean negative log-likelihood of the non-ignored targets, in double. */
    private static double crossEntropy(float[] logits, long[] targets, int vocab) {
        double total = 0;
        int counted = 0;
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] < 0) {
                continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                max = Math.max(max, logits[i * vocab + v]);
            }
            double sum = 0;
            for (int v = 0; v < vocab; v++) {
                sum += Math.exp(logits[i * vocab + v] - max);
            }
            total += max + Math.log(sum) - logits[i * vocab + (int) targets[i]];
            counted++;
        }
        return total / counted;
    }

    private static boolean contains(long[] a, long v) {
        for (long x : a) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    /**
     * A module under test: its parameters (re-drawn at a useful scale), a forward function of an input
     * activation (float32 of {@code inputShape}; no shape: no input), and fixed random weights w defining the objective sum(out * w).
     */
    private static final class Case {
        private final ParameterStore store;
        private final BiFunction<PtNDArray, NDManager, PtNDArray> forward;
        private final long[] inputShape;
        private final float[] input;
        private final Random random = new Random(1234);
        private float[] weights;
        private BiFunction<PtNDArray, NDManager, PtNDArray> hostForward;
        private ToDoubleFunction<float[]> hostReduction;
        private final Map<String, Parameter> byName = new LinkedHashMap<>();

        Case(Module module, BiFunction<PtNDArray, NDManager, PtNDArray> forward, long... inputShape) {
            this.store = new ParameterStore(module, root, 99);
            this.forward = forward;
            this.inputShape = inputShape;
            int n = 1;
            for (long d : inputShape) {
                n *= (int) d;
            }
            this.input = inputShape.length == 0 ? null : gaussian(n, 1.0, 0.0);
            FloatBuffer values = store.values();
            for (Parameter p : store.parameters()) {
                byName.put(p.name(), p);
                long[] s = p.shape();
                float[] v;
                if (s.length == 2) {
                    v = gaussian((int) p.numel(), 1.0 / Math.sqrt(s[1]), 0.0); // unit-scale activations
                } else if (p.name().endsWith("weight")) {
                    v = gaussian((int) p.numel(), 0.3, 1.0); // LayerNorm scale around 1
                } else {
                    v = gaussian((int) p.numel(), 0.3, 0.0);
                }
                values.put((int) p.offset(), v);
            }
        }

        List<String> names() {
            return new ArrayList<>(byName.keySet());
        }

        private float[] gaussian(int n, double std, double mean) {
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                out[i] = (float) (mean + std * random.nextGaussian());
            }
            return out;
        }

        private PtNDArray runForward(NDManager m, PtNDArray x) {
            PtNDArray out = forward.apply(x, m);
            if (weights == null) {
                weights = gaussian((int) out.getShape().size(), 1.0, 0.0);
            }
            return out;
        }

        /**
         * Replaces the objective sum(forward * w) by {@code reduction} (in double) of another output; the
         * forward's output must then be a scalar equal to it, whose gradient backward computes.
         */
        void hostObjective(BiFunction<PtNDArray, NDManager, PtNDArray> outputs, ToDoubleFunction<float[]> reduction) {
            this.hostForward = outputs;
            this.hostReduction = reduction;
            this.weights = new float[] {1f};
        }

        /** The forward's output (a scalar) as computed by libtorch. */
        double deviceValue() {
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray x = input == null ? null : Ops.floats(m, input, inputShape);
                return runForward(m, x).getFloat();
            }
        }

        /** The objective without autograd, reduced on the host in double. */
        double objective() {
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray x = input == null ? null : Ops.floats(m, input, inputShape);
                if (hostForward != null) {
                    return hostReduction.applyAsDouble(hostForward.apply(x, m).toFloatArray());
                }
                float[] out = runForward(m, x).toFloatArray();
                double s = 0;
                for (int i = 0; i < out.length; i++) {
                    s += (double) out[i] * weights[i];
                }
                return s;
            }
        }

        /** Gradients by backward, per parameter name and "input". */
        Map<String, float[]> analytic() {
            Map<String, float[]> grads = new LinkedHashMap<>();
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray x = null;
                if (input != null) {
                    x = Ops.floats(m, input, inputShape);
                    JniUtils.attachGradient(x, true);
                }
                JniUtils.setGradMode(true);
                PtNDArray out;
                try {
                    out = runForward(m, x);
                } finally {
                    JniUtils.setGradMode(false);
                }
                JniUtils.backward(out, Ops.floats(m, weights, out.getShape().getShape()), false, false);
                for (Parameter p : store.parameters()) {
                    PtNDArray g = store.gradient(p);
                    assertThat(g).as("gradient of %s", p.name()).isNotNull();
                    grads.put(p.name(), g.toFloatArray());
                }
                if (x != null) {
                    grads.put("input", JniUtils.getGradient(x).toFloatArray());
                }
                store.zeroGradients();
            }
            return grads;
        }

        void checkAll() {
            Map<String, float[]> analytic = analytic();
            for (String name : byName.keySet()) {
                check(name, analytic.get(name));
            }
            assertThat(analytic).containsKey("input");
            check("input", analytic.get("input"));
        }

        void check(String name, float[] analytic) {
            int n = analytic.length;
            int[] coords = new int[Math.min(COORDINATES, n)];
            List<Integer> all = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                all.add(i);
            }
            Collections.shuffle(all, new Random(name.hashCode()));
            for (int i = 0; i < coords.length; i++) {
                coords[i] = all.get(i);
            }
            compare(name, analytic, coords);
        }

        void checkRow(String name, float[] analytic, int row, int width) {
            int[] coords = new int[width];
            for (int i = 0; i < width; i++) {
                coords[i] = row * width + i;
            }
            compare(name + " row " + row, analytic, coords);
        }

        private void compare(String what, float[] analytic, int[] coords) {
            double[] numeric = new double[coords.length];
            double[] an = new double[coords.length];
            double[] scaled = new double[coords.length];
            double[] shifted = new double[coords.length];
            double scale = 0;
            for (float a : analytic) {
                scale = Math.max(scale, Math.abs(a));
            }
            assertThat(scale).as("%s: gradient is not identically zero", what).isGreaterThan(0);
            for (int i = 0; i < coords.length; i++) {
                numeric[i] = numeric(what.startsWith("input") ? null : what.split(" ")[0], coords[i]);
                an[i] = analytic[coords[i]];
                scaled[i] = an[i] * 1.02;
                shifted[i] = analytic[(coords[i] + 1) % analytic.length];
            }
            // coordinates whose gradient is tiny compared with the tensor's largest are held to an absolute bound
            double floor = 1e-2 * scale;
            double err = maxRelativeError(numeric, an, floor);
            System.out.printf("%-30s max rel err %.2e (largest |g| %.2e)%n", what, err, scale);
            assertThat(err).as("%s: finite differences vs backward", what).isLessThan(TOLERANCE);
            assertThat(maxRelativeError(numeric, scaled, floor)).as("%s: control, gradient 2%% too large", what)
                    .isGreaterThan(TOLERANCE);
            assertThat(maxRelativeError(numeric, shifted, floor)).as("%s: control, gradient of the next coordinate", what)
                    .isGreaterThan(TOLERANCE);
        }

        /**
         * Derivative of the objective in one coordinate of a parameter (or of the input if null): central
         * differences at steps h and 2h combined by Richardson extrapolation, (4 D(h) - D(2h)) / 3, which
         * cancels the O(h^2) truncation error, so h can stay large enough for float32 rounding not to matter.
         */
        private double numeric(String param, int index) {
            return (4 * centralDifference(param, index, STEP) - centralDifference(param, index, 2 * STEP)) / 3;
        }

        private double centralDifference(String param, int index, double h) {
            FloatBuffer values = store.values();
            int at = param == null ? index : (int) byName.get(param).offset() + index;
            float original = param == null ? input[at] : values.get(at);
            float plus = (float) (original + h);
            float minus = (float) (original - h);
            set(values, param, at, plus);
            double fPlus = objective();
            set(values, param, at, minus);
            double fMinus = objective();
            set(values, param, at, original);
            // the step actually taken, after rounding to float32
            return (fPlus - fMinus) / ((double) plus - (double) minus);
        }

        private void set(FloatBuffer values, String param, int at, float v) {
            if (param == null) {
                input[at] = v;
            } else {
                values.put(at, v);
            }
        }
    }

    static double maxRelativeError(double[] numeric, double[] analytic, double floor) {
        double worst = 0;
        for (int i = 0; i < numeric.length; i++) {
            double denom = Math.max(floor, Math.max(Math.abs(numeric[i]), Math.abs(analytic[i])));
            worst = Math.max(worst, Math.abs(numeric[i] - analytic[i]) / denom);
        }
        return worst;
    }
}
