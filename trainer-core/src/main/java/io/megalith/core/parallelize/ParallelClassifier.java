package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link SequenceClassifier} as one rank runs it after {@link BertPlan#apply(SequenceClassifier, Placement)}: the
 * encoder's chain as in pre-training ({@link ParallelBert#encoderSegments}), then a head on complete (replicated)
 * activations.
 */
public final class ParallelClassifier {
    private final SequenceClassifier model;
    private final ParallelBert encoder;

    ParallelClassifier(SequenceClassifier model, ParallelBert encoder) {
        this.model = model;
        this.encoder = encoder;
    }

    /** This rank's part of the model (the one-rank model under {@link Placement#SINGLE}). */
    public SequenceClassifier model() {
        return model;
    }

    public Placement placement() {
        return encoder.placement();
    }

    /**
     * {@code weight} times the mean cross-entropy of {@code labels} as a chain for {@link
     * io.megalith.core.segment.SegmentedPass} (input: {@link SequenceClassifier#inputIds}): {@link
     * ParallelBert#encoderSegments}, then a head (final norm, pooler, dropout, classifier, loss). At one rank with
     * weight 1 it computes exactly {@link SequenceClassifier#loss}. The head's input is complete on every rank, so each
     * computes the same loss and reports it, and returns 1/tp of it: the gradients of the replicated head (PARTIAL)
     * and of its input (summed by the boundary before) add up once. The pre-training heads' parameters are listed
     * with the head (unused: they get no gradient) so that the chain covers every parameter. Null ids give the
     * chain's shape only.
     */
    public List<Segment> segments(long[] ids, long[] labelIds, int b, int t, NDManager m, float weight) {
        return segments(ids, null, labelIds, b, t, m, weight);
    }

    /** {@link #segments(long[], long[], int, int, NDManager, float)} with token types [B, T] (null: all 0). */
    public List<Segment> segments(long[] ids, long[] types, long[] labelIds, int b, int t, NDManager m,
            float weight) {
        List<Segment> out = encoder.encoderSegments(ids, types, b, t, m);
        int tp = placement().tp().size();
        PtNDArray share = m == null || tp == 1 ? null : Ops.scalar(m, 1f / tp);
        List<Parameter> params = new ArrayList<>(encoder.headNormParameters());
        params.addAll(model.bert().pooler().parameters());
        params.addAll(model.head().parameters());
        params.addAll(encoder.pretrainingHeadParameters());
        out.add(Segment.of("head", params, Segment.Boundary.NONE, 0, (x, skip, ctx) -> {
            PtNDArray logits = model.headLogits(encoder.headNorm(x), ctx);
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
}
