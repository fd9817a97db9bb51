package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.transformer.TextEncoder;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * How a {@link TextEncoder} is split over a tensor-parallel group, in place before its storage is bound (CLIP's text
 * tower, a text-to-image DiT's encoder): every layer as {@link TransformerPlan#layer} (attention by heads, feed-forward
 * by hidden units, norms PARTIAL), the embeddings and ln_f replicated and PARTIAL. {@link #segments}: the encoder
 * from ids to token states as a chain a model reading the states continues (see ParallelEncoderDecoder's encoder).
 */
public final class TextEncoderPlan {
    private TextEncoderPlan() {}

    /** Splits {@code text} for {@code tp} (nothing to do on one rank). */
    public static void apply(TextEncoder text, TpLayout tp) {
        TransformerPlan.checkHeads(text.config().nHead(), tp);
        if (!tp.parallel()) {
            return;
        }
        for (TransformerLayer layer : text.layers()) {
            TransformerPlan.layer(layer, tp);
        }
        text.lnF().markPartial();
        for (Parameter p : text.embeddingParameters()) {
            p.shard(Parameter.Sharding.PARTIAL);
        }
    }

    /**
     * The chain from ids [B, T] to token states [B, T, C] of captions {@code ids} [B*T] (null: the shape only, for
     * planning); each segment makes what it reads besides its input (the attention bias, 1/tp) in its own forward's
     * manager, so the chain can be built before the pass. The embedding is complete on every rank (no collective after
     * it under tp), each layer one segment (one rank) or its {@link TransformerPlan#halves} each followed by an
     * all-reduce, then ln_f with no collective after it: the states are complete and the same on every rank, and the
     * gradient a reader's tp-split layers hand back is each rank's partial sum, which ln_f (PARTIAL) takes as its
     * upstream and the last layer's all-reduce sums (as the encoder-decoder's encoder output).
     */
    public static List<Segment> segments(TextEncoder text, TpLayout tp, long[] ids, int b) {
        String prefix = text.prefix();
        List<Segment> out = new ArrayList<>();
        out.add(Segment.of(prefix + ".embed", text.embeddingParameters(),
                tp.parallel() ? Segment.Boundary.NONE : Segment.Boundary.ALL_REDUCE, 0,
                (x, skip, ctx) -> text.embed(x, ctx)));
        List<TransformerLayer> layers = text.layers();
        for (int i = 0; i < layers.size(); i++) {
            TransformerLayer layer = layers.get(i);
            if (!tp.parallel()) {
                out.add(Segment.of(prefix + ".layers." + i, layer.parameters(), (x, ctx) -> layer.forward(x,
                        text.attentionBias(ctx.manager(), ids, b), null, null, ctx, null, null)));
                continue;
            }
            int halves = layer.cross() != null ? 3 : 2;
            for (int k = 0; k < halves; k++) {
                int step = k;
                out.add(Segment.of(prefix + ".layers." + i + "." + k, k == 0 ? layer.parameters() : List.of(),
                        Segment.Boundary.ALL_REDUCE, 0, (x, skip, ctx) -> {
                            NDManager m = ctx.manager();
                            return TransformerPlan.halves(layer, text.attentionBias(m, ids, b), null, null,
                                    Ops.scalar(m, 1f / tp.size()), null).get(step).forward(x, ctx);
                        }));
            }
        }
        out.add(Segment.of(prefix + ".ln_f", text.lnF().parameters(), Segment.Boundary.NONE, 0,
                (x, skip, ctx) -> text.states(x)));
        return out;
    }
}
