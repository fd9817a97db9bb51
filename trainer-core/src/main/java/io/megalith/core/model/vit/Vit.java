package io.megalith.core.model.vit;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Init;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A vision transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words") classifying images:
 * <pre>
 *   patches  [B, C, H, W] -> [B, N, C P P]: each P x P patch flattened (channel, row, column), N = HW / P^2
 *   x        patch_embed(patches)          a Linear, the same map as a stride-P convolution with a P x P kernel
 *   x        [cls_token; x] + positions     [CLS] in front (pool cls), learned or 2-D sin-cos positions; dropout
 *   x        layers.i(x)                    pre-LN transformer layers (the GPT's and BERT's), no mask
 *   logits   head(pool(ln_f(x)))            pool: the [CLS] state, or the mean over the tokens
 * </pre>
 * Names: {@code patch_embed, cls_token, pos_embed, layers.i.{ln1,attn.qkv,attn.proj,ln2,mlp.fc,mlp.proj}, ln_f,
 * head}. One-rank code: tensor parallelism comes from outside ({@code parallelize.VitPlan}).
 */
public final class Vit extends Module {
    private final VitConfig cfg;
    private final Linear patchEmbed;
    private final Parameter clsToken; // [1, C], or null under mean pooling
    private final Parameter posEmbed; // [T, C] learned, or null under sin-cos positions
    private final List<TransformerLayer> layers = new ArrayList<>();
    private final LayerNorm lnF;
    private final Linear head;
    private final float[] sincos; // the fixed positions [T, C] on the host, or null with learned ones

    public Vit(VitConfig cfg) {
        super("");
        this.cfg = cfg;
        // LeCun normal as big_vision's patch embedding: unit-variance pixels give unit-variance patch tokens
        this.patchEmbed = child(new Linear("patch_embed", cfg.patchDim(), cfg.nEmbd(), true,
                1.0 / Math.sqrt(cfg.patchDim())));
        this.clsToken = cfg.pool() == VitConfig.Pool.CLS
                ? parameter("cls_token", new long[] {1, cfg.nEmbd()}, Init.normal(0.02), false) : null;
        this.posEmbed = cfg.positions() == VitConfig.Positions.LEARNED
                ? parameter("pos_embed", new long[] {cfg.tokens(), cfg.nEmbd()}, Init.normal(0.02), false) : null;
        this.sincos = posEmbed == null ? sinCos(cfg) : null;
        for (int i = 0; i < cfg.nLayer(); i++) {
            layers.add(child(new TransformerLayer("layers." + i, cfg.layerSpec(), i, false)));
        }
        this.lnF = child(new LayerNorm("ln_f", cfg.nEmbd(), cfg.bias()));
        this.head = child(new Linear("head", cfg.nEmbd(), cfg.classes(), true, 0.02));
    }

    public VitConfig config() {
        return cfg;
    }

    /** Pixels [B, C, H, W] (normalised, row-major) as the model's input. */
    public static PtNDArray pixels(NDManager m, float[] pixels, int b, VitConfig cfg) {
        return Ops.floats(m, pixels, b, cfg.channels(), cfg.height(), cfg.width());
    }

    /** [B, C, H, W] -> [B, N, C P P]: patches in row-major order, each flattened as a conv kernel [C, P, P] is. */
    public PtNDArray patchify(PtNDArray images) {
        long b = images.getShape().get(0);
        int p = cfg.patch();
        int gh = cfg.height() / p;
        int gw = cfg.width() / p;
        PtNDArray x = Ops.reshape(images, b, cfg.channels(), gh, p, gw, p);
        x = Ops.permute(x, 0, 2, 4, 1, 3, 5); // [B, gh, gw, C, P, P]
        return Ops.reshape(x, b, (long) gh * gw, cfg.patchDim());
    }

    /** The tokens [B, T, C] of images [B, C, H, W]: patch embeddings, [CLS] in front, plus positions, dropout. */
    public PtNDArray embed(PtNDArray images, ForwardContext ctx) {
        long b = images.getShape().get(0);
        PtNDArray x = patchEmbed.forward(patchify(images));
        if (clsToken != null) {
            // the one [CLS] row looked up for every image: [B, 1, C]
            PtNDArray cls = Ops.embedding(Ops.longs(ctx.manager(), new long[(int) b], b, 1), clsToken.value());
            x = Ops.cat(new PtNDArray[] {cls, x}, 1);
        }
        x = Ops.add(x, positions(ctx.manager()));
        return ctx.dropout(x, cfg.dropout(), "drop");
    }

    /** The position embeddings [T, C]: the learned table, or the fixed sin-cos one (a constant made in {@code m}). */
    public PtNDArray positions(NDManager m) {
        return posEmbed != null ? posEmbed.value() : Ops.floats(m, sincos, cfg.tokens(), cfg.nEmbd());
    }

    /**
     * MAE's 2-D sin-cos positions, row-major [T, C]: for the patch at grid row r, column q, the first C/2 features
     * encode r and the rest q, each as [sin(pos w_k), cos(pos w_k)], w_k = 10000^(-k / (C/4)), k < C/4; [CLS] (in
     * front under pool cls) gets zeros.
     */
    public static float[] sinCos(VitConfig cfg) {
        int c = cfg.nEmbd();
        int quarter = c / 4;
        int gw = cfg.width() / cfg.patch();
        int first = cfg.tokens() - cfg.patches();
        float[] out = new float[cfg.tokens() * c];
        for (int n = 0; n < cfg.patches(); n++) {
            int[] pos = {n / gw, n % gw};
            for (int axis = 0; axis < 2; axis++) {
                int base = (first + n) * c + axis * 2 * quarter;
                for (int k = 0; k < quarter; k++) {
                    double angle = pos[axis] * Math.pow(10000, -(double) k / quarter);
                    out[base + k] = (float) Math.sin(angle);
                    out[base + quarter + k] = (float) Math.cos(angle);
                }
            }
        }
        return out;
    }

    /** ln_f, pooling and the classifier on the layers' output [B, T, C]: logits [B, classes]. */
    public PtNDArray headLogits(PtNDArray x) {
        return head.forward(pooled(x));
    }

    /** ln_f and pooling of the layers' output [B, T, C]: the image representations [B, C] the head classifies. */
    public PtNDArray pooled(PtNDArray x) {
        PtNDArray h = lnF.forward(x);
        long b = h.getShape().get(0);
        long t = h.getShape().get(1);
        if (cfg.pool() == VitConfig.Pool.CLS) {
            return Ops.reshape(Ops.slice(h, 1, 0, 1), b, cfg.nEmbd());
        }
        // the mean over tokens as a product with a row of 1/T: [1, T] @ [B, T, C] -> [B, 1, C]
        float[] avg = new float[(int) t];
        Arrays.fill(avg, 1f / t);
        return Ops.reshape(Ops.matmul(Ops.floats(h.getManager(), avg, 1, t), h), b, cfg.nEmbd());
    }

    /**
     * The penultimate features [B, C] of images [B, C, H, W]: what the head sees (pooled ln_f output), the space a
     * Frechet distance between image sets is measured in.
     */
    public PtNDArray features(PtNDArray images, ForwardContext ctx) {
        PtNDArray x = embed(images, ctx);
        for (TransformerLayer layer : layers) {
            x = layer.forward(x, null, null, null, ctx, null, null);
        }
        return pooled(x);
    }

    /** Logits [B, classes] of images [B, C, H, W]. */
    public PtNDArray logits(PtNDArray images, ForwardContext ctx) {
        return head.forward(features(images, ctx));
    }

    /** Mean cross-entropy of {@code labels} [B]. */
    public PtNDArray loss(PtNDArray images, long[] labels, ForwardContext ctx) {
        return crossEntropy(logits(images, ctx), labels, ctx);
    }

    /** Mean cross-entropy of logits [B, classes] against labels [B]. */
    public static PtNDArray crossEntropy(PtNDArray logits, long[] labels, ForwardContext ctx) {
        return Ops.crossEntropy(logits, Ops.longs(ctx.manager(), labels, labels.length, 1), null, labels.length);
    }

    /** The arg-max class of each row of logits [B, classes]. */
    public static int[] argmax(PtNDArray logits) {
        float[] lg = logits.toFloatArray();
        int k = (int) logits.getShape().get(1);
        int[] out = new int[lg.length / k];
        for (int i = 0; i < out.length; i++) {
            int best = 0;
            for (int j = 1; j < k; j++) {
                if (lg[i * k + j] > lg[i * k + best]) {
                    best = j;
                }
            }
            out[i] = best;
        }
        return out;
    }

    public Linear patchEmbed() {
        return patchEmbed;
    }

    /** The [CLS] token [1, C], or null under mean pooling. */
    public Parameter clsToken() {
        return clsToken;
    }

    /** The learned positions [T, C], or null under sin-cos positions. */
    public Parameter posEmbed() {
        return posEmbed;
    }

    public List<TransformerLayer> layers() {
        return layers;
    }

    public LayerNorm lnF() {
        return lnF;
    }

    public Linear head() {
        return head;
    }

    /** The parameters of {@link #embed}. */
    public List<Parameter> embeddingParameters() {
        List<Parameter> out = new ArrayList<>(patchEmbed.parameters());
        if (clsToken != null) {
            out.add(clsToken);
        }
        if (posEmbed != null) {
            out.add(posEmbed);
        }
        return out;
    }

    /** The parameters of {@link #headLogits}. */
    public List<Parameter> headParameters() {
        List<Parameter> out = new ArrayList<>(lnF.parameters());
        out.addAll(head.parameters());
        return out;
    }
}
