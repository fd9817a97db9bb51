package io.megalith.core.quantize;

import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.tensor.HostTensor;
import java.util.Map;

/**
 * A GPT ({@link io.megalith.core.model.Gpt}, nanoGPT's architecture) decoding one sequence with a KV cache in plain
 * Java, over {@link WeightRows}: from int8 weights ({@link #int8}: every matrix product reads the int8 values) or fp32
 * ones ({@link #fp32}, the reference). One token at a time, at position p:
 * <pre>
 *   x      = wte[token] + wpe[p]
 *   block  h = ln1(x); [q k v] = qkv h + b; k, v appended to the layer's cache
 *          a_head = softmax(q_head . K_head^T / sqrt(hs)) V_head over positions 0..p (the cache holds only the past:
 *                   causal by construction); x += proj a + b
 *          h = ln2(x); x += mlp.proj gelu(mlp.fc h + b) + b          (gelu: the exact, erf form, as torch's)
 *   logits = wte ln_f(x)                                              (the head tied to the token embedding)
 * </pre>
 * Dense models only (no experts, no unmerged LoRA adapters); batch 1, the use where decoding is memory-bound.
 */
public final class GptDecoder {
    private final GptConfig cfg;
    private final WeightRows wte;
    private final WeightRows wpe;
    private final Block[] blocks;
    private final Norm lnF;
    private final float[][] keys; // per layer [block_size, C]
    private final float[][] values;
    private int length;
    // scratch, reused every token
    private final float[] x;
    private final float[] h;
    private final float[] qkv;
    private final float[] att;
    private final float[] out;
    private final float[] hidden;
    private final float[] scores;

    private record Norm(float[] weight, float[] bias) {}

    private record Block(Norm ln1, WeightRows qkv, float[] qkvBias, WeightRows proj, float[] projBias, Norm ln2,
            WeightRows fc, float[] fcBias, WeightRows mlpProj, float[] mlpProjBias) {}

    private interface Matrices {
        WeightRows get(String name);
    }

    private GptDecoder(GptConfig cfg, Map<String, HostTensor> weights, Matrices matrices) {
        if (cfg.moe().enabled()) {
            throw new IllegalArgumentException("the batch-1 decoder runs dense GPTs only (this one has experts)");
        }
        this.cfg = cfg;
        int c = cfg.nEmbd();
        int a = cfg.attentionWidth(); // c unless heads were pruned
        int f = cfg.mlpHidden(); // 4c unless hidden units were pruned
        this.wte = check(matrices.get("wte.weight"), "wte.weight", cfg.vocabSize(), c);
        this.wpe = check(matrices.get("wpe.weight"), "wpe.weight", cfg.blockSize(), c);
        this.blocks = new Block[cfg.nLayer()];
        for (int i = 0; i < blocks.length; i++) {
            String p = "blocks." + i + ".";
            blocks[i] = new Block(norm(weights, p + "ln1", c),
                    check(matrices.get(p + "attn.qkv.weight"), p + "attn.qkv.weight", 3 * a, c),
                    vector(weights, p + "attn.qkv.bias", 3 * a),
                    check(matrices.get(p + "attn.proj.weight"), p + "attn.proj.weight", c, a),
                    vector(weights, p + "attn.proj.bias", c), norm(weights, p + "ln2", c),
                    check(matrices.get(p + "mlp.fc.weight"), p + "mlp.fc.weight", f, c),
                    vector(weights, p + "mlp.fc.bias", f),
                    check(matrices.get(p + "mlp.proj.weight"), p + "mlp.proj.weight", c, f),
                    vector(weights, p + "mlp.proj.bias", c));
        }
        this.lnF = norm(weights, "ln_f", c);
        this.keys = new float[blocks.length][cfg.blockSize() * a];
        this.values = new float[blocks.length][cfg.blockSize() * a];
        this.x = new float[c];
        this.h = new float[c];
        this.qkv = new float[3 * a];
        this.att = new float[a];
        this.out = new float[c];
        this.hidden = new float[f];
        this.scores = new float[cfg.blockSize()];
    }

    /** From a quantized state dict ({@link Int8Weights#quantize}): every matrix product reads the int8 values. */
    public static GptDecoder int8(GptConfig cfg, Map<String, HostTensor> quantized) {
        Map<String, Int8Rows> m = Int8Weights.matrices(quantized);
        return new GptDecoder(cfg, quantized, m::get);
    }

    /** From a fp32 state dict (the reference the int8 decoder is measured against). */
    public static GptDecoder fp32(GptConfig cfg, Map<String, HostTensor> weights) {
        return new GptDecoder(cfg, weights, name -> {
            HostTensor t = weights.get(name);
            if (t == null || t.dtype() != HostTensor.DType.F32 || t.shape().length != 2) {
                return null;
            }
            return new Fp32Rows((int) t.shape()[0], (int) t.shape()[1], t.toFloats());
        });
    }

    private static WeightRows check(WeightRows m, String name, int rows, int cols) {
        if (m == null) {
            throw new IllegalArgumentException("the weights have no matrix " + name);
        }
        if (m.rows() != rows || m.cols() != cols) {
            throw new IllegalArgumentException(name + " is [" + m.rows() + ", " + m.cols() + "], the config says ["
                    + rows + ", " + cols + "]");
        }
        return m;
    }

    /** A vector the model may lack (model.bias false): null then. */
    private static float[] vector(Map<String, HostTensor> weights, String name, int size) {
        HostTensor t = weights.get(name);
        if (t == null) {
            return null;
        }
        float[] v = t.toFloats();
        if (v.length != size) {
            throw new IllegalArgumentException(name + " has " + v.length + " values, the config says " + size);
        }
        return v;
    }

    private static Norm norm(Map<String, HostTensor> weights, String name, int size) {
        float[] w = vector(weights, name + ".weight", size);
        if (w == null) {
            throw new IllegalArgumentException("the weights have no " + name + ".weight");
        }
        return new Norm(w, vector(weights, name + ".bias", size));
    }

    public GptConfig config() {
        return cfg;
    }

    /** Tokens decoded so far (the cache's length). */
    public int length() {
        return length;
    }

    /** Forgets the sequence: the next token is at position 0. */
    public void reset() {
        length = 0;
    }

    /** Feeds {@code token} at the next position and returns the logits [vocab] of what follows it. */
    public float[] next(int token) {
        if (length >= cfg.blockSize()) {
            throw new IllegalStateException("the sequence is full (block_size " + cfg.blockSize() + ")");
        }
        int c = cfg.nEmbd();
        int a = cfg.attentionWidth();
        wte.row(token, x, 0);
        wpe.row(length, h, 0);
        for (int i = 0; i < c; i++) {
            x[i] += h[i];
        }
        for (int l = 0; l < blocks.length; l++) {
            Block b = blocks[l];
            layerNorm(x, b.ln1(), h);
            linear(b.qkv(), b.qkvBias(), h, qkv);
            System.arraycopy(qkv, a, keys[l], length * a, a);
            System.arraycopy(qkv, 2 * a, values[l], length * a, a);
            attend(l);
            linear(b.proj(), b.projBias(), att, out);
            add(x, out);
            layerNorm(x, b.ln2(), h);
            linear(b.fc(), b.fcBias(), h, hidden);
            for (int i = 0; i < hidden.length; i++) {
                hidden[i] = gelu(hidden[i]);
            }
            linear(b.mlpProj(), b.mlpProjBias(), hidden, out);
            add(x, out);
        }
        length++;
        layerNorm(x, lnF, h);
        float[] logits = new float[cfg.vocabSize()];
        wte.multiply(h, 0, logits, 0, 0, cfg.vocabSize());
        return logits;
    }

    /** att = each head's softmax(q k^T / sqrt(hs)) v over the cached positions 0..length of layer l. */
    private void attend(int l) {
        int c = cfg.attentionWidth(); // a cached position's keys (values): every head's, side by side
        int hs = cfg.headSize();
        float scale = (float) (1.0 / Math.sqrt(hs));
        int n = length + 1;
        float[] k = keys[l];
        float[] v = values[l];
        for (int head = 0; head < cfg.nHead(); head++) {
            int off = head * hs;
            float max = Float.NEGATIVE_INFINITY;
            for (int p = 0; p < n; p++) {
                scores[p] = Int8Kernel.dot(qkv, off, k, p * c + off, hs) * scale;
                max = Math.max(max, scores[p]);
            }
            double total = 0;
            for (int p = 0; p < n; p++) {
                scores[p] = (float) Math.exp(scores[p] - max);
                total += scores[p];
            }
            for (int j = 0; j < hs; j++) {
                att[off + j] = 0;
            }
            for (int p = 0; p < n; p++) {
                float weight = (float) (scores[p] / total);
                int row = p * c + off;
                for (int j = 0; j < hs; j++) {
                    att[off + j] += weight * v[row + j];
                }
            }
        }
    }

    private static void linear(WeightRows w, float[] bias, float[] in, float[] result) {
        w.multiply(in, 0, result, 0, 0, w.rows());
        if (bias != null) {
            add(result, bias);
        }
    }

    private static void add(float[] a, float[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
    }

    /** (x - mean) / sqrt(var + 1e-5) * weight + bias, the biased variance as torch's layer_norm. */
    private static void layerNorm(float[] in, Norm norm, float[] result) {
        int n = in.length;
        double mean = 0;
        for (float v : in) {
            mean += v;
        }
        mean /= n;
        double var = 0;
        for (float v : in) {
            var += (v - mean) * (v - mean);
        }
        var /= n;
        double inv = 1.0 / Math.sqrt(var + LayerNorm.EPS);
        for (int i = 0; i < n; i++) {
            double y = (in[i] - mean) * inv * norm.weight()[i];
            result[i] = (float) (norm.bias() == null ? y : y + norm.bias()[i]);
        }
    }

    /** 0.5 x (1 + erf(x / sqrt 2)). */
    static float gelu(float v) {
        return (float) (0.5 * v * (1 + erf(v / Math.sqrt(2))));
    }

    /**
     * erf to about 1e-7 absolute (Abramowitz and Stegun 7.1.26 refined: Numerical Recipes' erfc Chebyshev fit, 1.2e-7
     * relative), as Java 17 has no Math.erf.
     */
    static double erf(double z) {
        double t = 1.0 / (1.0 + 0.5 * Math.abs(z));
        double ans = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return z >= 0 ? 1 - ans : ans - 1;
    }
}
