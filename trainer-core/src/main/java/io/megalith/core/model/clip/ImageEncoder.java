package io.megalith.core.model.clip;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
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
 * CLIP's image tower: the ViT without its class head (see {@link Vit}: patches, [CLS] or mean pooling, learned or
 * sin-cos positions, pre-LN layers, ln_f), giving one vector [B, C] per image. Names (under {@code prefix}):
 * {@code patch_embed, cls_token, pos_embed, layers.i.*, ln_f}.
 */
public final class ImageEncoder extends Module {
    private final VitConfig cfg;
    private final Linear patchEmbed;
    private final Parameter clsToken; // [1, C], or null under mean pooling
    private final Parameter posEmbed; // [T, C] learned, or null under sin-cos positions
    private final List<TransformerLayer> layers = new ArrayList<>();
    private final LayerNorm lnF;
    private final float[] sincos;

    public ImageEncoder(String prefix, VitConfig cfg) {
        super(prefix);
        this.cfg = cfg;
        // LeCun normal as the ViT's: unit-variance pixels give unit-variance patch tokens
        this.patchEmbed = child(new Linear(childName("patch_embed"), cfg.patchDim(), cfg.nEmbd(), true,
                1.0 / Math.sqrt(cfg.patchDim())));
        this.clsToken = cfg.pool() == VitConfig.Pool.CLS
                ? parameter("cls_token", new long[] {1, cfg.nEmbd()}, Init.normal(0.02), false) : null;
        this.posEmbed = cfg.positions() == VitConfig.Positions.LEARNED
                ? parameter("pos_embed", new long[] {cfg.tokens(), cfg.nEmbd()}, Init.normal(0.02), false) : null;
        this.sincos = posEmbed == null ? Vit.sinCos(cfg) : null;
        for (int i = 0; i < cfg.nLayer(); i++) {
            layers.add(child(new TransformerLayer(childName("layers." + i), cfg.layerSpec(), i, false)));
        }
        this.lnF = child(new LayerNorm(childName("ln_f"), cfg.nEmbd(), cfg.bias()));
    }

    public VitConfig config() {
        return cfg;
    }

    /** [B, C, H, W] -> [B, N, C P P], as {@link Vit#patchify}. */
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
            PtNDArray cls = Ops.embedding(Ops.longs(ctx.manager(), new long[(int) b], b, 1), clsToken.value());
            x = Ops.cat(new PtNDArray[] {cls, x}, 1);
        }
        NDManager m = ctx.manager();
        x = Ops.add(x, posEmbed != null ? posEmbed.value() : Ops.floats(m, sincos, cfg.tokens(), cfg.nEmbd()));
        return ctx.dropout(x, cfg.dropout(), childName("drop"));
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
