package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.Targets;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.tensorparallel.VocabParallelCrossEntropy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * BERT as one rank runs it after {@link BertPlan#apply(Bert, Placement)}: this rank's part of the model and its
 * segment chain, with the all-reduces of its tensor-parallel group at the segment boundaries. With
 * {@link Placement#SINGLE} the chain computes exactly {@link Bert#pretrainingLoss}.
 */
public final class ParallelBert {
    private final Bert bert;
    private final Placement placement;
    private final TpLayout tp;
    private final BertConfig cfg;

    ParallelBert(Bert bert, Placement placement) {
        this.bert = bert;
        this.placement = placement;
        this.tp = placement.tp();
        this.cfg = bert.config();
    }

    /** This rank's part of the model (the one-rank model under {@link Placement#SINGLE}). */
    public Bert model() {
        return bert;
    }

    public Placement placement() {
        return placement;
    }

    /**
     * The pre-training loss of {@code batch} as a chain for {@link io.megalith.core.segment.SegmentedPass} (input:
     * {@link Bert#inputIds}), computing exactly {@link Bert#pretrainingLoss}. One rank: the embeddings (with their
     * LayerNorm and dropout), one segment per layer, and the heads with the loss. Under tensor parallelism:
     * <pre>
     *   embed          word (vocab-parallel) + (position + segment)/tp: partial sum        -all-reduce->
     *   embeddings.ln  LayerNorm + dropout of the sum: complete, the same on every rank     (no collective)
     *   layers.i.k     TransformerPlan.halves: attention, feed-forward (partial sums)       -all-reduce->
     *   head           final norm (post-LN: the last layer's ln2), MLM transform, this rank's vocabulary
     *                  slice of the tied logits, vocab-parallel cross-entropy; NSP counted 1/tp per rank
     * </pre>
     * Segments that run on complete inputs without a collective after them (embeddings.ln, the head) see partial
     * gradients, so their replicated parameters are PARTIAL (summed over the group with the others). A null batch
     * gives the chain's shape only (its parameters per segment, for planning buckets).
     */
    public List<Segment> segments(MlmBatch batch, NDManager m) {
        return segments(batch, m, 1f, 1f);
    }

    /**
     * As above, the chain's loss being {@code mlmWeight} times the mean MLM loss of the batch plus {@code nspWeight}
     * times its mean NSP loss: a trainer cutting a step into parts weighs each part's MLM by its share of the
     * step's masked tokens and its NSP by its share of the step's sequences (a part without masked tokens then
     * adds its NSP loss only).
     */
    public List<Segment> segments(MlmBatch batch, NDManager m, float mlmWeight, float nspWeight) {
        int b = batch == null ? 0 : batch.batch();
        int t = batch == null ? 0 : batch.seqLen();
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        boolean masked = batch != null && Arrays.stream(batch.targets()).anyMatch(v -> v >= 0);
        Targets targets = masked ? Targets.of(m, batch.targets()) : null; // null: no MLM loss (NSP only)
        List<Segment> out = encoderSegments(batch == null ? null : batch.inputs(),
                batch == null ? null : batch.segments(), b, t, m);
        List<Parameter> headParams = new ArrayList<>(headNormParameters());
        headParams.addAll(bert.pooler().parameters());
        headParams.addAll(bert.mlmDense().parameters());
        headParams.addAll(bert.mlmNorm().parameters());
        headParams.add(bert.mlmBias());
        if (bert.nsp() != null) {
            headParams.addAll(bert.nsp().parameters());
        }
        headParams.add(bert.wordEmbedding()); // tied
        long[] nspLabels = batch == null ? null : batch.nspLabels();
        out.add(Segment.of("head", headParams, Segment.Boundary.NONE, 0,
                (x, skip, ctx) -> headLoss(x, targets, nspLabels, mlmWeight, nspWeight, share, ctx)));
        return out;
    }

    /**
     * The encoder's chain without a head (input: token ids [b, t]; null ids give the chain's shape only): the
     * embeddings and the layers as in {@link #segments}; its output is the layers' output, under tensor parallelism
     * a partial sum before the final norm, which a head applies with {@link #headNorm} (see {@link
     * ParallelClassifier#segments}).
     */
    public List<Segment> encoderSegments(long[] inputs, long[] segmentIds, int b, int t, NDManager m) {
        if (t > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence of " + t + " exceeds max_positions " + cfg.maxPositions());
        }
        PtNDArray segs = inputs == null || segmentIds == null ? null : Ops.longs(m, segmentIds, b, t);
        PtNDArray bias = inputs == null ? null : bert.paddingBias(m, inputs, b, t);
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        List<TransformerLayer> layers = bert.layers();
        LayerNorm embLn = bert.embeddingNorm();
        List<Segment> out = new ArrayList<>();
        List<Parameter> embParams = new ArrayList<>(List.of(bert.wordEmbedding(), bert.position().weight(),
                bert.segment().weight()));
        if (!tp.parallel()) {
            embParams.addAll(embLn.parameters());
            out.add(Segment.of("embed", embParams,
                    (ids, ctx) -> ctx.dropout(embLn.forward(embeddingSum(ids, segs, null)), cfg.dropout(),
                            "embeddings.drop")));
            for (int i = 0; i < layers.size(); i++) {
                TransformerLayer layer = layers.get(i);
                out.add(Segment.of("layers." + i, layer.parameters(),
                        (x, ctx) -> layer.forward(x, bias, null, null, ctx, null, null)));
            }
        } else {
            out.add(Segment.of("embed", embParams, Segment.Boundary.ALL_REDUCE, 0,
                    (ids, skip, ctx) -> embeddingSum(ids, segs, share)));
            out.add(Segment.of("embeddings.ln", embLn.parameters(), Segment.Boundary.NONE, 0,
                    (x, skip, ctx) -> ctx.dropout(embLn.forward(x), cfg.dropout(), "embeddings.drop")));
            for (int i = 0; i < layers.size(); i++) {
                TransformerLayer layer = layers.get(i);
                LayerNorm before = i == 0 ? null : TransformerPlan.outputNorm(layers.get(i - 1));
                List<TransformerPlan.Half> halves = TransformerPlan.halves(layer, bias, null, null, share, before);
                for (int k = 0; k < halves.size(); k++) {
                    TransformerPlan.Half h = halves.get(k);
                    // the whole layer's parameters with its first step: complete once that step's backward is done
                    out.add(Segment.of("layers." + i + "." + k, k == 0 ? layer.parameters() : List.of(),
                            Segment.Boundary.ALL_REDUCE, 0, (x, skip, ctx) -> h.forward(x, ctx)));
                }
            }
        }
        return out;
    }

    /**
     * The final norm a head applies to the (all-reduced) output of {@link #encoderSegments}: pre-LN's ln_f; post-LN
     * under tensor parallelism the last layer's ln2 (its halves leave it to the next step); else nothing.
     */
    public PtNDArray headNorm(PtNDArray x) {
        List<TransformerLayer> layers = bert.layers();
        LayerNorm last = bert.lnF() != null ? bert.lnF()
                : tp.parallel() ? TransformerPlan.outputNorm(layers.get(layers.size() - 1)) : null;
        return last == null ? x : last.forward(x);
    }

    /** The parameters {@link #headNorm} reads that no layer segment lists (pre-LN's ln_f). */
    public List<Parameter> headNormParameters() {
        return bert.lnF() == null ? List.of() : bert.lnF().parameters();
    }

    /** The pre-training heads' parameters (pooler excluded): MLM transform and bias, NSP. */
    public List<Parameter> pretrainingHeadParameters() {
        List<Parameter> out = new ArrayList<>(bert.mlmDense().parameters());
        out.addAll(bert.mlmNorm().parameters());
        out.add(bert.mlmBias());
        if (bert.nsp() != null) {
            out.addAll(bert.nsp().parameters());
        }
        return out;
    }

    /** Word + (position + segment) embeddings of ids [B, T]; with {@code share}, this rank's partial sum. */
    private PtNDArray embeddingSum(PtNDArray ids, PtNDArray segs, PtNDArray share) {
        PtNDArray replicated = Ops.add(bert.positions(ids.getShape().get(1)), bert.segmentEmbeddings(segs));
        if (share != null) {
            replicated = Ops.mul(replicated, share); // each rank adds 1/tp: the sum over the group adds it once
        }
        return Ops.add(bert.word().forward(ids), replicated);
    }

    /** The heads and the loss of the layers' (summed) output x [B, T, C]. */
    private PtNDArray headLoss(PtNDArray x, Targets targets, long[] nspLabels, float mlmWeight, float nspWeight,
            PtNDArray share, ForwardContext ctx) {
        PtNDArray h = headNorm(x);
        boolean withNsp = nspLabels != null && bert.nsp() != null;
        PtNDArray nspLoss = null;
        if (withNsp) {
            long b = h.getShape().get(0);
            nspLoss = Ops.crossEntropy(bert.nspLogits(bert.pooled(h)), Ops.longs(ctx.manager(), nspLabels, b, 1), null,
                    b);
            nspLoss = weighted(nspLoss, nspWeight, ctx);
        }
        boolean withMlm = targets != null;
        if (!withMlm && !withNsp) {
            throw new IllegalArgumentException("a BERT batch without masked tokens or NSP labels has no loss");
        }
        if (!tp.parallel()) {
            PtNDArray loss = withMlm ? weighted(bert.mlmLoss(h, targets), mlmWeight, ctx) : null;
            return !withNsp ? loss : loss == null ? nspLoss : Ops.add(loss, nspLoss);
        }
        float reported = 0;
        PtNDArray surrogate = null;
        if (withMlm) {
            PtNDArray flat = Ops.reshape(h, -1, cfg.nEmbd());
            PtNDArray logits = Ops.linear(bert.mlmNorm().forward(Ops.gelu(bert.mlmDense().forward(flat))),
                    bert.wordEmbedding().value(), bert.mlmBias().value()); // [N, V/tp]: this rank's vocabulary slice
            float[] loss = new float[1];
            surrogate = weighted(VocabParallelCrossEntropy.surrogate(logits, targets.host(), bert.word().firstRow(),
                    targets.counted(), placement.tpGroup(), loss), mlmWeight, ctx);
            reported = loss[0] * mlmWeight;
        }
        if (withNsp) {
            // replicated on every rank: each contributes 1/tp of its gradient, which the all-reduces add up once
            reported += nspLoss.getFloat();
            PtNDArray part = Ops.mul(nspLoss, share);
            surrogate = surrogate == null ? part : Ops.add(surrogate, part);
        }
        ctx.reportLoss(reported);
        return surrogate;
    }

    static PtNDArray weighted(PtNDArray loss, float weight, ForwardContext ctx) {
        return weight == 1f ? loss : Ops.mul(loss, Ops.scalar(ctx.manager(), weight));
    }
}
