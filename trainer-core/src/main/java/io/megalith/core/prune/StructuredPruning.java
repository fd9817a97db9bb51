package io.megalith.core.prune;

import io.megalith.core.model.GptConfig;
import io.megalith.core.tensor.HostTensor;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Structured pruning of a GPT: whole attention heads and MLP hidden units removed from every block, leaving a smaller
 * dense GPT (fewer heads of the same size, a narrower MLP) that loads as an ordinary model of that shape
 * ({@code model.n_head}, {@code model.head_size}, {@code model.mlp_hidden}).
 *
 * <p>Importance, from the weights alone. Head h adds softmax(q k^T) V_h P_h^T to the residual (V_h: its rows of the
 * value projection, P_h: its columns of attn.proj); the attention weights are a convex combination, so the head's
 * output is bounded by the size of its value path: score ||V_h||_F ||P_h||_F. Hidden unit j adds gelu(f_j . x) p_j
 * (f_j: row j of mlp.fc, p_j: column j of mlp.proj), gelu growing no faster than its input: score ||f_j|| ||p_j||.
 * Each block keeps the same number of heads and of units, its highest-scoring ones (ties: the lower index), in their
 * original order; biases follow their rows, attn.proj and mlp.proj keep their biases.
 */
public final class StructuredPruning {
    private StructuredPruning() {}

    /** The pruned shape and weights, and which heads and units of each block were kept (original indices). */
    public record Result(GptConfig config, Map<String, HostTensor> weights, int[][] keptHeads, int[][] keptUnits) {}

    /**
     * Removes {@code round(headFraction n_head)} heads (at least one is kept) and {@code round(unitFraction
     * mlp_hidden)} hidden units (likewise) from every block of the GPT {@code cfg} with these one-rank weights.
     */
    public static Result prune(GptConfig cfg, Map<String, HostTensor> weights, double headFraction,
            double unitFraction) {
        if (cfg.moe().enabled()) {
            throw new IllegalArgumentException("structured pruning takes a dense GPT (this one has experts)");
        }
        if (!(headFraction >= 0 && headFraction < 1) || !(unitFraction >= 0 && unitFraction < 1)) {
            throw new IllegalArgumentException("fractions of heads and hidden units to remove must be in [0, 1) (got "
                    + headFraction + ", " + unitFraction + ")");
        }
        if (weights.keySet().stream().anyMatch(n -> n.contains("lora_"))) {
            throw new IllegalArgumentException("the weights hold LoRA adapters: prune the merged.safetensors a LoRA "
                    + "run writes (loaded by a run with checkpoint.init_from) instead");
        }
        int heads = Math.max(1, cfg.nHead() - (int) Math.round(headFraction * cfg.nHead()));
        int units = Math.max(1, cfg.mlpHidden() - (int) Math.round(unitFraction * cfg.mlpHidden()));
        int hs = cfg.headSize();
        int a = cfg.attentionWidth();
        Map<String, HostTensor> out = new LinkedHashMap<>(weights);
        int[][] keptHeads = new int[cfg.nLayer()][];
        int[][] keptUnits = new int[cfg.nLayer()][];
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "blocks." + l + ".";
            float[] qkv = floats(weights, p + "attn.qkv.weight", 3L * a, cfg.nEmbd());
            float[] proj = floats(weights, p + "attn.proj.weight", cfg.nEmbd(), a);
            double[] headScore = new double[cfg.nHead()];
            for (int h = 0; h < cfg.nHead(); h++) {
                headScore[h] = Math.sqrt(rowNorm2(qkv, cfg.nEmbd(), 2 * a + h * hs, hs)
                        * colNorm2(proj, cfg.nEmbd(), a, h * hs, hs));
            }
            keptHeads[l] = top(headScore, heads);
            int[] rows = expand(keptHeads[l], hs);
            int[] qkvRows = IntStream.range(0, 3).flatMap(part -> Arrays.stream(rows).map(r -> part * a + r)).toArray();
            out.put(p + "attn.qkv.weight", rowsOf(qkv, cfg.nEmbd(), qkvRows));
            out.put(p + "attn.proj.weight", colsOf(proj, cfg.nEmbd(), a, rows));
            slice(weights, out, p + "attn.qkv.bias", qkvRows);

            int hidden = cfg.mlpHidden();
            float[] fc = floats(weights, p + "mlp.fc.weight", hidden, cfg.nEmbd());
            float[] down = floats(weights, p + "mlp.proj.weight", cfg.nEmbd(), hidden);
            double[] unitScore = new double[hidden];
            for (int j = 0; j < hidden; j++) {
                unitScore[j] = Math.sqrt(rowNorm2(fc, cfg.nEmbd(), j, 1) * colNorm2(down, cfg.nEmbd(), hidden, j, 1));
            }
            keptUnits[l] = top(unitScore, units);
            out.put(p + "mlp.fc.weight", rowsOf(fc, cfg.nEmbd(), keptUnits[l]));
            out.put(p + "mlp.proj.weight", colsOf(down, cfg.nEmbd(), hidden, keptUnits[l]));
            slice(weights, out, p + "mlp.fc.bias", keptUnits[l]);
        }
        GptConfig pruned = new GptConfig(cfg.vocabSize(), cfg.blockSize(), cfg.nLayer(), heads, cfg.nEmbd(),
                cfg.dropout(), cfg.bias(), cfg.moe(), hs, units);
        return new Result(pruned, out, keptHeads, keptUnits);
    }

    /**
     * The shape of a GPT with these weights: {@code run}'s, with the heads (of {@code run}'s head size) and hidden units
     * the weights' first block has. Every block must agree, as {@link #prune} leaves them.
     */
    public static GptConfig shapeOf(GptConfig run, Map<String, HostTensor> weights) {
        if (run.moe().enabled()) {
            return run;
        }
        HostTensor qkv = weights.get("blocks.0.attn.qkv.weight");
        HostTensor fc = weights.get("blocks.0.mlp.fc.weight");
        if (qkv == null || fc == null || qkv.shape().length != 2 || fc.shape().length != 2) {
            return run; // not a GPT's weights: loading them names what is missing
        }
        long a = qkv.shape()[0] / 3;
        long hidden = fc.shape()[0];
        if (a % run.headSize() != 0 || a == 0) {
            throw new IllegalArgumentException("blocks.0.attn.qkv.weight has " + qkv.shape()[0] + " rows: not q, k, v "
                    + "of whole heads of the run's head size " + run.headSize());
        }
        for (int l = 1; l < run.nLayer(); l++) {
            HostTensor q = weights.get("blocks." + l + ".attn.qkv.weight");
            HostTensor f = weights.get("blocks." + l + ".mlp.fc.weight");
            if (q != null && f != null && (q.shape()[0] != 3 * a || f.shape()[0] != hidden)) {
                throw new IllegalArgumentException("block " + l + " has another number of heads or hidden units than "
                        + "block 0 (" + q.shape()[0] / 3 / run.headSize() + " heads and " + f.shape()[0] + " units, "
                        + "against " + a / run.headSize() + " and " + hidden + ")");
            }
        }
        return new GptConfig(run.vocabSize(), run.blockSize(), run.nLayer(), (int) (a / run.headSize()), run.nEmbd(),
                run.dropout(), run.bias(), run.moe(), run.headSize(), (int) hidden);
    }

    /** The indices of the {@code k} largest scores (ties: the lower index), ascending. */
    static int[] top(double[] score, int k) {
        return IntStream.range(0, score.length).boxed()
                .sorted(Comparator.<Integer>comparingDouble(i -> -score[i]).thenComparingInt(i -> i))
                .limit(k).mapToInt(Integer::intValue).sorted().toArray();
    }

    /** Each of {@code blocks} as its {@code size} consecutive indices. */
    private static int[] expand(int[] blocks, int size) {
        return Arrays.stream(blocks).flatMap(b -> IntStream.range(b * size, (b + 1) * size)).toArray();
    }

    private static float[] floats(Map<String, HostTensor> weights, String name, long rows, long cols) {
        HostTensor t = weights.get(name);
        if (t == null) {
            throw new IllegalArgumentException("the weights have no " + name);
        }
        if (t.dtype() != HostTensor.DType.F32 || !Arrays.equals(t.shape(), new long[] {rows, cols})) {
            throw new IllegalArgumentException(name + " is " + t.dtype() + " " + Arrays.toString(t.shape())
                    + ", the config says F32 [" + rows + ", " + cols + "]");
        }
        return t.toFloats();
    }

    /** Sum of squares of rows [from, from + n) of the row-major [*, cols] matrix. */
    private static double rowNorm2(float[] m, int cols, int from, int n) {
        double s = 0;
        for (int i = from * cols; i < (from + n) * cols; i++) {
            s += (double) m[i] * m[i];
        }
        return s;
    }

    /** Sum of squares of columns [from, from + n) of the row-major [rows, cols] matrix. */
    private static double colNorm2(float[] m, int rows, int cols, int from, int n) {
        double s = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = from; c < from + n; c++) {
                double v = m[r * cols + c];
                s += v * v;
            }
        }
        return s;
    }

    private static HostTensor rowsOf(float[] m, int cols, int[] rows) {
        float[] out = new float[rows.length * cols];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(m, rows[i] * cols, out, i * cols, cols);
        }
        return HostTensor.ofFloats(out, rows.length, cols);
    }

    private static HostTensor colsOf(float[] m, int rows, int cols, int[] keep) {
        float[] out = new float[rows * keep.length];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < keep.length; i++) {
                out[r * keep.length + i] = m[r * cols + keep[i]];
            }
        }
        return HostTensor.ofFloats(out, rows, keep.length);
    }

    /** The bias {@code name} (if the model has biases) cut to {@code keep}. */
    private static void slice(Map<String, HostTensor> in, Map<String, HostTensor> out, String name, int[] keep) {
        HostTensor b = in.get(name);
        if (b == null) {
            return;
        }
        float[] v = b.toFloats();
        float[] kept = new float[keep.length];
        for (int i = 0; i < keep.length; i++) {
            kept[i] = v[keep[i]];
        }
        out.put(name, HostTensor.ofFloats(kept, keep.length));
    }
}
