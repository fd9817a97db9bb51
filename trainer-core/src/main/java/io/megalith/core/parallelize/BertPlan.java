package io.megalith.core.parallelize;

import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * How BERT (and a {@link SequenceClassifier} on it) is split over a tensor-parallel group (Megatron's layout, as
 * {@link GptPlan}), applied to the whole one-rank model in place before its storage is bound:
 * <ul>
 *   <li>the word embedding vocab-parallel (rows of this rank), the MLM vocabulary bias sliced with it: the tied MLM
 *       head computes this rank's slice of the logits (vocab-parallel cross-entropy);
 *   <li>every layer as {@link TransformerPlan#layer}: attention column/row-parallel by heads, feed-forward by hidden
 *       units, norms PARTIAL;
 *   <li>replicated and PARTIAL (each rank sees part of their gradient): positions, segment types, the embedding norm,
 *       ln_f, pooler, MLM transform, NSP and a classifier's head.
 * </ul>
 * BERT has no pipeline, sequence- or expert-parallel plan.
 */
public final class BertPlan {
    private BertPlan() {}

    /** Applies the plan for {@code placement} to {@code bert} (in place) and returns the model as this rank runs it. */
    public static ParallelBert apply(Bert bert, Placement placement) {
        check(placement, bert.config());
        TpLayout tp = placement.tp();
        if (tp.parallel()) {
            tensorParallel(bert, tp);
        }
        return new ParallelBert(bert, placement);
    }

    /** As above for BERT with a classification head, which stays whole on every rank (PARTIAL). */
    public static ParallelClassifier apply(SequenceClassifier model, Placement placement) {
        check(placement, model.bert().config());
        TpLayout tp = placement.tp();
        if (tp.parallel()) {
            tensorParallel(model.bert(), tp);
            // replicated and fed complete activations with no collective after it, as the NSP head: every rank
            // adds 1/tp of its gradient, summed over the group with the other PARTIAL gradients
            for (Parameter p : model.head().parameters()) {
                p.shard(Parameter.Sharding.PARTIAL);
            }
        }
        return new ParallelClassifier(model, new ParallelBert(model.bert(), placement));
    }

    private static void check(Placement placement, BertConfig cfg) {
        if (placement.pp().size() > 1 || placement.sequenceParallel() || placement.expertParallel() != null) {
            throw new IllegalArgumentException("BERT runs data and tensor parallelism only (no pipeline, sequence or "
                    + "expert parallelism)");
        }
        TransformerPlan.checkHeads(cfg.nHead(), placement.tp());
    }

    private static void tensorParallel(Bert bert, TpLayout tp) {
        BertConfig cfg = bert.config();
        if (bert.wordEmbedding().sharding().kind() != Parameter.Sharding.Kind.NONE) {
            throw new IllegalArgumentException("a plan applies to the whole one-rank model (not to a rank's part)");
        }
        long[] vocab = tp.part(cfg.vocabSize());
        bert.word().parallelize(vocab);
        bert.embeddingNorm().markPartial();
        for (TransformerLayer layer : bert.layers()) {
            TransformerPlan.layer(layer, tp);
        }
        if (bert.lnF() != null) {
            bert.lnF().markPartial();
        }
        bert.mlmNorm().markPartial();
        bert.mlmBias().slice(0, new long[][] {vocab});
        List<Parameter> replicated = new ArrayList<>(bert.position().parameters());
        replicated.addAll(bert.segment().parameters());
        replicated.addAll(bert.pooler().parameters());
        replicated.addAll(bert.mlmDense().parameters());
        if (bert.nsp() != null) {
            replicated.addAll(bert.nsp().parameters());
        }
        for (Parameter p : replicated) {
            p.shard(Parameter.Sharding.PARTIAL);
        }
    }
}
