package io.megalith.core.parallelize;

import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * How the encoder-decoder is split over a tensor-parallel group (Megatron's layout, as {@link BertPlan}), applied to
 * the whole one-rank model in place before its storage is bound: the shared embedding (and with it the tied LM head)
 * vocab-parallel; every encoder and decoder layer as {@link TransformerPlan#layer} (self- and cross-attention by
 * heads, feed-forward by hidden units, norms PARTIAL); positions and the final norms replicated and PARTIAL (positions
 * are added as position/tp by every rank). No pipeline, sequence or expert parallelism.
 */
public final class EncoderDecoderPlan {
    private EncoderDecoderPlan() {}

    /** Applies the plan for {@code placement} to {@code model} (in place) and returns it as this rank runs it. */
    public static ParallelEncoderDecoder apply(EncoderDecoder model, Placement placement) {
        if (placement.pp().size() > 1 || placement.sequenceParallel() || placement.expertParallel() != null) {
            throw new IllegalArgumentException("the encoder-decoder runs data and tensor parallelism only (no "
                    + "pipeline, sequence or expert parallelism)");
        }
        TpLayout tp = placement.tp();
        TransformerPlan.checkHeads(model.config().nHead(), tp);
        if (tp.parallel()) {
            if (model.shared().weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
                throw new IllegalArgumentException("a plan applies to the whole one-rank model (not to a rank's part)");
            }
            model.shared().parallelize(tp.part(model.config().vocabSize()));
            for (TransformerLayer layer : model.encoderStack()) {
                TransformerPlan.layer(layer, tp);
            }
            model.encoderNorm().markPartial();
            for (TransformerLayer layer : model.decoderStack()) {
                TransformerPlan.layer(layer, tp);
            }
            model.decoderNorm().markPartial();
            model.encoderPositions().weight().shard(Parameter.Sharding.PARTIAL); // added as position/tp on every rank
            model.decoderPositions().weight().shard(Parameter.Sharding.PARTIAL);
        }
        return new ParallelEncoderDecoder(model, placement);
    }
}
