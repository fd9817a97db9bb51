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
 * The ViT's trunk, from pixels to one vector per image: what {@link Vit} classifies and CLIP's image tower projects.
 * <pre>
 *   patches  [B, C, H, W] -> [B, N, C P P]: each P x P patch flattened (channel, row, column), N = HW / P^2
 *   x        patch_embed(patches)          a Linear, the same map as a stride-P convolution with a P x P kernel
 *   x        [cls_token; x] + positions     [CLS] in front (pool cls), learned or 2-D sin-cos positions; dropout
 *   x        layers.i(x)                    pre-LN transformer layers (the GPT's and BERT's), no mask
 *   pooled   pool(ln_f(x))                  pool: the [CLS] state, or the mean over the tokens
 * </pre>
 * Names (under {@code prefix}): {@code patch_embed, cls_token, pos_embed, layers.i.*, ln_f}. One-rank code: tensor
 * parallelism comes from outside ({@code parallelize.ImageEncoderPlan}).
 */
public final class ImageEncoder extends Module {
    private final VitConfig cfg;
    private final Linear patchEmbed;
    private final Parameter clsToken; // [1, C], or null under mean pooling
    private final Parameter posEmbed; // [T, C] learned, or null under sin-cos positions
    private final List<TransformerLayer> layers = new ArrayList<>();
    private final LayerNorm lnF;
    private final float[] sincos; // the fixed positions [T, C] on the host, or null with learned ones

    public ImageEncoder(String prefix, VitConfig cfg) {
        super(prefix);
        this.cfg = cfg;
        // LeCun normal as big_vision's patch embedding: unit-variance pixels give unit-variance patch tokens
        this.patchEmbed = child(new Linear(childName("patch_embed"), cfg.patchDim(), cfg.nEmbd(), true,
                1.0 / Math.sqrt(cfg.patchDim())));
        this.clsToken = cfg.pool() == VitConfig.Pool.CLS
                ? parameter("cls_token", new long[] {1, cfg.nEmbd()}, Init.normal(0.02), false) : null;
        this.posEmbed = cfg.positions() == VitConfig.Positions.LEARNED
                ? parameter("pos_embed", new long[] {cfg.tokens(), cfg.nEmbd()}, Init.normal(0.02), false) : null;
        this.sincos = posEmbed == null ? sinCos(cfg) : null;
        for (int i = 0; i < cfg.nLayer(); i++) {
            layers.add(child(new TransformerLayer(childName("layers." + i), cfg.layerSpec(), i, false)));
        }
        this.lnF = child(new LayerNorm(childName("ln_f"), cfg.nEmbd(), cfg.bias()));
    }

    public VitConfig config() {
        return cfg;
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
        return ctx.dropout(x, cfg.dropout(), childName("drop"));
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

    /** ln_f and pooling of the layers' output [B, T, C]: one vector [B, C] per image. */
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

    /** The pooled vectors [B, C] of images [B, C, H, W]. */
    public PtNDArray forward(PtNDArray images, ForwardContext ctx) {
        PtNDArray x = embed(images, ctx);
        for (TransformerLayer layer : layers) {
            x = layer.forward(x, null, null, null, ctx, null, null);
        }
        return pooled(x);
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
}
