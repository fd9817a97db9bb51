package io.megalith.core.model.vit;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.List;

/**
 * A vision transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words") classifying images:
 * <pre>
 *   features  encoder(images)     the {@link ImageEncoder}: patches, positions, pre-LN layers, pool(ln_f(x))
 *   logits    head(features)      a Linear to the classes
 * </pre>
 * Names: {@code patch_embed, cls_token, pos_embed, layers.i.{ln1,attn.qkv,attn.proj,ln2,mlp.fc,mlp.proj}, ln_f,
 * head}. One-rank code: tensor parallelism comes from outside ({@code parallelize.VitPlan}).
 */
public final class Vit extends Module {
    private final VitConfig cfg;
    private final ImageEncoder encoder;
    private final Linear head;

    public Vit(VitConfig cfg) {
        super("");
        this.cfg = cfg;
        this.encoder = child(new ImageEncoder("", cfg));
        this.head = child(new Linear("head", cfg.nEmbd(), cfg.classes(), true, 0.02));
    }

    public VitConfig config() {
        return cfg;
    }

    /** The trunk: patches, positions, layers, ln_f and pooling (its names are the ViT's own, with no prefix). */
    public ImageEncoder encoder() {
        return encoder;
    }

    /** Pixels [B, C, H, W] (normalised, row-major) as the model's input. */
    public static PtNDArray pixels(NDManager m, float[] pixels, int b, VitConfig cfg) {
        return Ops.floats(m, pixels, b, cfg.channels(), cfg.height(), cfg.width());
    }

    /** ln_f, pooling and the classifier on the layers' output [B, T, C]: logits [B, classes]. */
    public PtNDArray headLogits(PtNDArray x) {
        return head.forward(encoder.pooled(x));
    }

    /**
     * The penultimate features [B, C] of images [B, C, H, W]: what the head sees (pooled ln_f output), the space a
     * Frechet distance between image sets is measured in.
     */
    public PtNDArray features(PtNDArray images, ForwardContext ctx) {
        return encoder.forward(images, ctx);
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

    public Linear head() {
        return head;
    }

    /** The parameters of {@link #headLogits}. */
    public List<Parameter> headParameters() {
        List<Parameter> out = new ArrayList<>(encoder.lnF().parameters());
        out.addAll(head.parameters());
        return out;
    }
}
