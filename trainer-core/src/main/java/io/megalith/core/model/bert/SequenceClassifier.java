package io.megalith.core.model.bert;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.Communicator;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * BERT with a sequence-classification head: logits = classifier(dropout(pooled [CLS])). The encoder keeps
 * {@link Bert}'s parameter names, so a pre-trained BERT checkpoint loads into it as it is; the head
 * ({@code classifier.weight}, {@code classifier.bias}) starts fresh. Under tensor parallelism it trains through
 * {@link #segments}: the encoder's chain as in pre-training, then a head on complete (replicated) activations.
 */
public final class SequenceClassifier extends Module {
    public static final String HEAD = "classifier";
    private final Bert bert;
    private final Linear head;
    private final int labels;

    public SequenceClassifier(BertConfig cfg, int labels) {
        this(cfg, labels, TpLayout.SINGLE, null);
    }

    /** On one rank of a tensor-parallel group (see {@link Bert#Bert(BertConfig, TpLayout, Communicator)}). */
    public SequenceClassifier(BertConfig cfg, int labels, TpLayout tp, Communicator tpGroup) {
        super("");
        this.bert = child(new Bert(cfg, tp, tpGroup));
        this.head = child(new Linear(HEAD, cfg.nEmbd(), labels, true, 0.02));
        this.labels = labels;
        if (tp.parallel()) {
            // replicated and fed complete activations with no collective after it, as the NSP head: every rank
            // adds 1/tp of its gradient, summed over the group with the other PARTIAL gradients
            for (Parameter p : head.parameters()) {
                p.shard(Parameter.Sharding.PARTIAL);
            }
        }
    }

    public Bert bert() {
        return bert;
    }

    public int labels() {
        return labels;
    }

    /** Logits [B, labels] of ids [B, T] (padding from the config's pad id), one segment. */
    public PtNDArray logits(long[] ids, int batch, int t, ForwardContext ctx) {
        return logits(ids, null, batch, t, ctx);
    }

    /** Logits [B, labels] of ids [B, T] with token types [B, T] (sentence pairs; null: all 0). */
    public PtNDArray logits(long[] ids, long[] types, int batch, int t, ForwardContext ctx) {
        NDManager m = ctx.manager();
        PtNDArray segs = types == null ? null : Ops.longs(m, types, batch, t);
        PtNDArray h = bert.encode(Ops.longs(m, ids, batch, t), segs, bert.paddingBias(m, ids, batch, t), ctx);
        return headLogits(h, ctx);
    }

    /** The head on final hidden states [B, T, C]: classifier(dropout(pooled)). */
    private PtNDArray headLogits(PtNDArray h, ForwardContext ctx) {
        PtNDArray pooled = ctx.dropout(bert.pooled(h), bert.config().dropout(), HEAD + ".drop");
        return head.forward(pooled);
    }

    /** Mean cross-entropy of {@code labels} [B], one segment. */
    public PtNDArray loss(long[] ids, long[] labels, int batch, int t, ForwardContext ctx) {
        return loss(ids, null, labels, batch, t, ctx);
    }

    /** Mean cross-entropy of {@code labels} [B] with token types (null: all 0). */
    public PtNDArray loss(long[] ids, long[] types, long[] labels, int batch, int t, ForwardContext ctx) {
        PtNDArray logits = logits(ids, types, batch, t, ctx);
        return Ops.crossEntropy(logits, Ops.longs(ctx.manager(), labels, batch, 1), null, batch);
    }

    /**
     * {@code weight} times the mean cross-entropy of {@code labels} as a chain for {@link
     * io.megalith.core.segment.SegmentedPass} (input: {@link #inputIds}): {@link Bert#encoderSegments}, then a head
     * (final norm, pooler, dropout, classifier, loss). At one rank with weight 1 it computes exactly {@link #loss}.
     * The head's input is complete on every rank, so each computes the same loss and reports it, and returns 1/tp of
     * it: the gradients of the replicated head (PARTIAL) and of its input (summed by the boundary before) add up once.
     * The pre-training heads' parameters are listed with the head (unused: they get no gradient) so that the chain
     * covers every parameter. Null ids give the chain's shape only.
     */
    public List<Segment> segments(long[] ids, long[] labelIds, int b, int t, NDManager m, float weight) {
        return segments(ids, null, labelIds, b, t, m, weight);
    }

    /** {@link #segments(long[], long[], int, int, NDManager, float)} with token types [B, T] (null: all 0). */
    public List<Segment> segments(long[] ids, long[] types, long[] labelIds, int b, int t, NDManager m,
            float weight) {
        List<Segment> out = bert.encoderSegments(ids, types, b, t, m);
        TpLayout tp = bert.tensorParallel();
        PtNDArray share = m == null || !tp.parallel() ? null : Ops.scalar(m, 1f / tp.size());
        List<Parameter> params = new ArrayList<>(bert.headNormParameters());
        params.addAll(bert.poolerParameters());
        params.addAll(head.parameters());
        params.addAll(bert.pretrainingHeadParameters());
        out.add(Segment.of("head", params, Segment.Boundary.NONE, 0, (x, skip, ctx) -> {
            PtNDArray logits = headLogits(bert.headNorm(x), ctx);
            PtNDArray loss = Ops.crossEntropy(logits, Ops.longs(ctx.manager(), labelIds, b, 1), null, b);
            if (weight != 1f) {
                loss = Ops.mul(loss, Ops.scalar(ctx.manager(), weight));
            }
            if (share == null) {
                return loss;
            }
            ctx.reportLoss(loss.getFloat());
            return Ops.mul(loss, share);
        }));
        return out;
    }

    /** The token ids [B, T]: the input of {@link #segments}. */
    public static PtNDArray inputIds(NDManager m, long[] ids, int b, int t) {
        return Ops.longs(m, ids, b, t);
    }

    /** The arg-max label of each sequence. */
    public int[] predict(long[] ids, int batch, int t, ForwardContext ctx) {
        return predict(ids, null, batch, t, ctx);
    }

    /** The arg-max label of each sequence with token types (null: all 0). */
    public int[] predict(long[] ids, long[] types, int batch, int t, ForwardContext ctx) {
        float[] lg = logits(ids, types, batch, t, ctx).toFloatArray();
        int[] out = new int[batch];
        for (int b = 0; b < batch; b++) {
            int best = 0;
            for (int j = 1; j < labels; j++) {
                if (lg[b * labels + j] > lg[b * labels + best]) {
                    best = j;
                }
            }
            out[b] = best;
        }
        return out;
    }
}
