package io.megalith.core.parallelize;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.model.vit.ImageEncoder;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * How an {@link ImageEncoder} (the ViT's trunk, CLIP's image tower) is split over a tensor-parallel group, in place
 * before its storage is bound: every layer as {@link TransformerPlan#layer} (attention column/row-parallel by heads,
 * feed-forward by hidden units, norms PARTIAL), as in the text families; the patch embedding, [CLS], positions and
 * ln_f replicated and PARTIAL (each rank computes them whole on complete activations, and sees part of their
 * gradient). {@link #segments}: the trunk from pixels to the layers' output as a chain a head continues.
 */
public final class ImageEncoderPlan {
    private ImageEncoderPlan() {}

    /** Splits {@code encoder} for {@code tp} (nothing to do on one rank). */
    public static void apply(ImageEncoder encoder, TpLayout tp) {
        TransformerPlan.checkHeads(encoder.config().nHead(), tp);
        if (!tp.parallel()) {
            return;
        }
        if (encoder.patchEmbed().weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
            throw new IllegalArgumentException("a plan applies to the whole one-rank model (not to a rank's part)");
        }
        for (TransformerLayer layer : encoder.layers()) {
            TransformerPlan.layer(layer, tp);
        }
        encoder.lnF().markPartial();
        for (Parameter p : encoder.embeddingParameters()) {
            p.shard(Parameter.Sharding.PARTIAL);
        }
    }

    /**
     * The chain from pixels [B, C, H, W] to the layers' output [B, T, C], segments named under the encoder's prefix:
     * the embedding complete on every rank (no collective after it under tp), then each layer one segment (one rank)
     * or its {@link TransformerPlan#halves} each followed by an all-reduce; {@code share} is 1/tp (null when only the
     * chain's shape is wanted). The head reading the output (ln_f, pooling) comes after, with no collective.
     */
    public static List<Segment> segments(ImageEncoder encoder, TpLayout tp, PtNDArray share) {
        String prefix = encoder.prefix().isEmpty() ? "" : encoder.prefix() + ".";
        List<Segment> out = new ArrayList<>();
        out.add(Segment.of(prefix + "embed", encoder.embeddingParameters(),
                tp.parallel() ? Segment.Boundary.NONE : Segment.Boundary.ALL_REDUCE, 0,
                (images, skip, ctx) -> encoder.embed(images, ctx)));
        List<TransformerLayer> layers = encoder.layers();
        for (int i = 0; i < layers.size(); i++) {
            TransformerLayer layer = layers.get(i);
            if (!tp.parallel()) {
                out.add(Segment.of(prefix + "layers." + i, layer.parameters(),
                        (x, ctx) -> layer.forward(x, null, null, null, ctx, null, null)));
                continue;
            }
            List<TransformerPlan.Half> halves = TransformerPlan.halves(layer, null, null, null, share, null);
            for (int k = 0; k < halves.size(); k++) {
                TransformerPlan.Half h = halves.get(k);
                // the whole layer's parameters with its first step: complete once that step's backward is done
                out.add(Segment.of(prefix + "layers." + i + "." + k, k == 0 ? layer.parameters() : List.of(),
                        Segment.Boundary.ALL_REDUCE, 0, (x, skip, ctx) -> h.forward(x, ctx)));
            }
        }
        return out;
    }
}
