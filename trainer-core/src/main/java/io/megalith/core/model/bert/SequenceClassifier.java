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
 * ({@code classifier.weight}, {@code classifier.bias}) starts fresh.
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

    /** Logits [B, labels] of ids [B, T] (padding from the config's pad id). */
    public PtNDArray logits(long[] ids, int batch, int t, ForwardContext ctx) {
        NDManager m = ctx.manager();
        PtNDArray h = bert.encode(Ops.longs(m, ids, batch, t), null, bert.paddingBias(m, ids, batch, t), ctx);
        PtNDArray pooled = ctx.dropout(bert.pooled(h), bert.config().dropout(), HEAD + ".drop");
        return head.forward(pooled);
    }

    /** Mean cross-entropy of {@code labels} [B]. */
    public PtNDArray loss(long[] ids, long[] labels, int batch, int t, ForwardContext ctx) {
        PtNDArray logits = logits(ids, batch, t, ctx);
        return Ops.crossEntropy(logits, Ops.longs(ctx.manager(), labels, batch, 1), null, batch);
    }

    /** The arg-max label of each sequence. */
    public int[] predict(long[] ids, int batch, int t, ForwardContext ctx) {
        float[] lg = logits(ids, batch, t, ctx).toFloatArray();
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
