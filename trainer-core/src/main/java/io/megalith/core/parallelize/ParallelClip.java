package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.Communicator;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.model.clip.ContrastiveLoss;
import io.megalith.core.model.vit.ImageEncoder;
import io.megalith.core.model.transformer.TextEncoder;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A {@link Clip} as one rank runs it after {@link ClipPlan#apply}: two chains for
 * {@link io.megalith.core.segment.SegmentedPass#runTwoChains}, the image tower (pixels -> its projected features, the
 * "memory") and the text tower, whose last segment ({@link ContrastiveSegment}) normalises both, gathers them over the
 * data-parallel group and computes this rank's rows of the loss. With {@link Placement#SINGLE} and one data-parallel
 * rank the chains compute exactly {@link Clip#loss}. Under tensor parallelism:
 * <pre>
 *   visual.embed / text.embed   complete, the same on every rank                            (no collective)
 *   *.layers.i.k                TransformerPlan.halves (partial sums)                        -all-reduce->
 *   visual.head                 ln_f, pooling, visual_proj on complete activations           (the memory)
 *   loss                        ln_f, pooling, text_proj, the contrastive loss: 1/tp of it per rank
 * </pre>
 * as the ViT's chain does: the replicated parameters' gradients are partial sums, summed over the group as PARTIAL.
 */
public final class ParallelClip {
    private final Clip clip;
    private final Placement placement;
    private final TpLayout tp;
    private final Communicator dp;

    ParallelClip(Clip clip, Placement placement, Communicator dp) {
        this.clip = clip;
        this.placement = placement;
        this.tp = placement.tp();
        this.dp = dp;
    }

    /** This rank's part of the model (the one-rank model under {@link Placement#SINGLE}). */
    public Clip model() {
        return clip;
    }

    public Placement placement() {
        return placement;
    }

    /** The data-parallel group the loss gathers embeddings over. */
    public Communicator dataParallel() {
        return dp;
    }

    /** The two chains of one batch and their inputs (see {@link io.megalith.core.segment.SegmentedPass#runTwoChains}). */
    public record Chains(List<Segment> image, PtNDArray pixels, Function<PtNDArray, List<Segment>> text,
            PtNDArray ids) {
        /** Both chains as one list (the text chain built without memory): each segment's parameters, for planning. */
        public List<Segment> all() {
            List<Segment> out = new ArrayList<>(image);
            out.addAll(text.apply(null));
            return out;
        }
    }

    /**
     * {@code weight} times this rank's rows of the contrastive loss of {@code b} images (pixels [B*C*H*W]) and their
     * captions' ids [B*T] as two chains. Null ids give the chains' shape only (their parameters per segment).
     */
    public Chains segments(float[] pixels, long[] ids, int b, NDManager m, float weight) {
        TextEncoder text = clip.text();
        ImageEncoder visual = clip.visual();
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        PtNDArray bias = ids == null ? null : text.attentionBias(m, ids, b);
        PtNDArray poolWeights = ids == null ? null : text.poolWeights(m, ids, b);
        List<Segment> image = new ArrayList<>(ImageEncoderPlan.segments(visual, tp, share));
        image.add(Segment.of("visual.head", clip.imageHeadParameters(), Segment.Boundary.NONE, 0,
                (x, skip, ctx) -> clip.projectImages(visual.pooled(x))));
        Function<PtNDArray, List<Segment>> textChain = memory -> {
            List<Segment> out = new ArrayList<>();
            out.add(Segment.of("text.embed", text.embeddingParameters(), boundary(), 0,
                    (x, skip, ctx) -> text.embed(x, ctx)));
            addLayers(out, "text.layers.", text.layers(), bias, share);
            out.add(new ContrastiveSegment("loss", clip.lossParameters(), dp, memory,
                    x -> clip.projectTexts(TextEncoder.pool(text.states(x), poolWeights)),
                    (images, texts, first, n, ctx) -> {
                        PtNDArray loss = ContrastiveLoss.of(images, texts, first, n,
                                clip.scale(), ctx);
                        if (weight != 1f) {
                            loss = Ops.mul(loss, Ops.scalar(ctx.manager(), weight));
                        }
                        if (!tp.parallel()) {
                            return loss;
                        }
                        // every rank computes the same loss: report it, and let each carry 1/tp of its gradient
                        ctx.reportLoss(loss.getFloat());
                        return Ops.mul(loss, share);
                    }));
            return out;
        };
        int t = ids == null ? 0 : ids.length / b;
        return new Chains(image, pixels == null ? null : Clip.pixels(m, pixels, b, clip.config()), textChain,
                ids == null ? null : Ops.longs(m, ids, b, t));
    }

    /** After an embedding: nothing crosses under tensor parallelism (every rank computes it whole). */
    private Segment.Boundary boundary() {
        return tp.parallel() ? Segment.Boundary.NONE : Segment.Boundary.ALL_REDUCE;
    }

    /** One segment per layer (one rank), or one per tensor-parallel step of each layer. */
    private void addLayers(List<Segment> out, String prefix, List<TransformerLayer> layers, PtNDArray bias,
            PtNDArray share) {
        for (int i = 0; i < layers.size(); i++) {
            TransformerLayer layer = layers.get(i);
            if (!tp.parallel()) {
                out.add(Segment.of(prefix + i, layer.parameters(),
                        (x, ctx) -> layer.forward(x, bias, null, null, ctx, null, null)));
                continue;
            }
            List<TransformerPlan.Half> halves = TransformerPlan.halves(layer, bias, null, null, share, null);
            for (int k = 0; k < halves.size(); k++) {
                TransformerPlan.Half h = halves.get(k);
                // the whole layer's parameters with its first step: complete once that step's backward is done
                out.add(Segment.of(prefix + i + "." + k, k == 0 ? layer.parameters() : List.<Parameter>of(),
                        Segment.Boundary.ALL_REDUCE, 0, (x, skip, ctx) -> h.forward(x, ctx)));
            }
        }
    }
}
