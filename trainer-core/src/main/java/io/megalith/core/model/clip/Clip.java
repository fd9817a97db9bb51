package io.megalith.core.model.clip;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.transformer.TextEncoder;
import io.megalith.core.model.vit.ImageEncoder;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Init;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.List;

/**
 * CLIP (Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"): an image tower and a
 * text tower mapped into one space, trained so that each image's caption is its nearest text and vice versa:
 * <pre>
 *   i       visual(images)                       the ViT's pooled features (no class head)       [B, C]
 *   t       text(ids).pooled                     last non-pad token (causal) or mean (bidirectional) [B, C]
 *   I, T    normalize(visual_proj(i)), normalize(text_proj(t))    linear, no bias; unit rows    [B, D]
 *   s       exp(min(logit_scale, log 100))       learned temperature, init log(1 / 0.07)
 *   loss    ( CE(s I T^T, arange) + CE(s T I^T, arange) ) / 2     symmetric InfoNCE ({@link ContrastiveLoss})
 * </pre>
 * Names: {@code visual.*} ({@link ImageEncoder}), {@code text.*} ({@link TextEncoder}), {@code visual_proj,
 * text_proj, logit_scale}. One-rank code: data and tensor parallelism come from outside ({@code parallelize.ClipPlan}).
 */
public final class Clip extends Module {
    /** The clamp of the learned log-scale: logits are at most 100 times the cosine similarity. */
    public static final double MAX_LOG_SCALE = Math.log(100);

    private final ClipConfig cfg;
    private final ImageEncoder visual;
    private final TextEncoder text;
    private final Linear visualProj;
    private final Linear textProj;
    private final Parameter logitScale;

    public Clip(ClipConfig cfg) {
        super("");
        this.cfg = cfg;
        this.visual = child(new ImageEncoder("visual", cfg.image()));
        this.text = child(new TextEncoder("text", cfg.text()));
        int ci = cfg.image().nEmbd();
        int ct = cfg.text().nEmbd();
        // projections initialised as OpenCLIP's: normal(0, width^-1/2)
        this.visualProj = child(new Linear("visual_proj", ci, cfg.embedDim(), false, 1.0 / Math.sqrt(ci)));
        this.textProj = child(new Linear("text_proj", ct, cfg.embedDim(), false, 1.0 / Math.sqrt(ct)));
        this.logitScale = parameter("logit_scale", new long[] {1}, new Init.Constant((float) Math.log(1 / 0.07)),
                false);
    }

    public ClipConfig config() {
        return cfg;
    }

    /** Pixels [B, C, H, W] (normalised, row-major) as the model's input. */
    public static PtNDArray pixels(NDManager m, float[] pixels, int b, ClipConfig cfg) {
        return Ops.floats(m, pixels, b, cfg.image().channels(), cfg.image().height(), cfg.image().width());
    }

    /** visual_proj of the image tower's pooled features [B, C]: the unnormalised image embeddings [B, D]. */
    public PtNDArray projectImages(PtNDArray pooled) {
        return visualProj.forward(pooled);
    }

    /** text_proj of the text tower's pooled vectors [B, C]: the unnormalised text embeddings [B, D]. */
    public PtNDArray projectTexts(PtNDArray pooled) {
        return textProj.forward(pooled);
    }

    /** Unit image embeddings [B, D] of images [B, C, H, W]. */
    public PtNDArray encodeImages(PtNDArray images, ForwardContext ctx) {
        return normalize(projectImages(visual.forward(images, ctx)));
    }

    /** Unit text embeddings [B, D] of ids [B*T] (padded rows of the same length: {@link TextEncoder#pad}). */
    public PtNDArray encodeTexts(long[] ids, int b, ForwardContext ctx) {
        return normalize(projectTexts(text.forward(ids, b, ctx).pooled()));
    }

    /** Rows scaled to unit length. */
    public static PtNDArray normalize(PtNDArray x) {
        return ClipOps.normalize(x);
    }

    /** The logit scale s = exp(min(logit_scale, log 100)), shape [1]. */
    public PtNDArray scale() {
        return ClipOps.exp(ClipOps.clampMax(logitScale.value(), MAX_LOG_SCALE));
    }

    /** Similarity logits s I T^T [images, texts] of unit embeddings. */
    public PtNDArray logits(PtNDArray images, PtNDArray texts) {
        return Ops.mul(Ops.matmul(images, Ops.transpose(texts, 0, 1)), scale());
    }

    /** The symmetric InfoNCE of B images [B, C, H, W] and their captions' ids [B*T]. */
    public PtNDArray loss(PtNDArray images, long[] ids, ForwardContext ctx) {
        int b = (int) images.getShape().get(0);
        return ContrastiveLoss.of(encodeImages(images, ctx), encodeTexts(ids, b, ctx), 0, b, scale(), ctx);
    }

    public ImageEncoder visual() {
        return visual;
    }

    public TextEncoder text() {
        return text;
    }

    public Linear visualProj() {
        return visualProj;
    }

    public Linear textProj() {
        return textProj;
    }

    public Parameter logitScale() {
        return logitScale;
    }

    /** The parameters of the image chain's last step: ln_f, pooling and visual_proj. */
    public List<Parameter> imageHeadParameters() {
        List<Parameter> out = new ArrayList<>(visual.lnF().parameters());
        out.addAll(visualProj.parameters());
        return out;
    }

    /** The parameters of the contrastive head: the text's ln_f, text_proj and logit_scale. */
    public List<Parameter> lossParameters() {
        List<Parameter> out = new ArrayList<>(text.lnF().parameters());
        out.addAll(textProj.parameters());
        out.add(logitScale);
        return out;
    }
}
