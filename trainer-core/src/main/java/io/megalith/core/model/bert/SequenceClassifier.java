package io.megalith.core.model.bert;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.tensor.Ops;

/**
 * BERT with a sequence-classification head: logits = classifier(dropout(pooled [CLS])). The encoder keeps
 * {@link Bert}'s parameter names, so a pre-trained BERT checkpoint loads into it as it is; the head
 * ({@code classifier.weight}, {@code classifier.bias}) starts fresh. One-rank code: its plan ({@code
 * parallelize.BertPlan}) splits the encoder as BERT's and keeps the head whole.
 */
public final class SequenceClassifier extends Module {
    public static final String HEAD = "classifier";
    private final Bert bert;
    private final Linear head;
    private final int labels;

    public SequenceClassifier(BertConfig cfg, int labels) {
        super("");
        this.bert = child(new Bert(cfg));
        this.head = child(new Linear(HEAD, cfg.nEmbd(), labels, true, 0.02));
        this.labels = labels;
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

    /** The classifier layer [labels, C]. */
    public Linear head() {
        return head;
    }

    /** The head on final hidden states [B, T, C]: classifier(dropout(pooled)). */
    public PtNDArray headLogits(PtNDArray h, ForwardContext ctx) {
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

    /** The token ids [B, T]: the input of its segment chain ({@code parallelize.ParallelClassifier}). */
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
