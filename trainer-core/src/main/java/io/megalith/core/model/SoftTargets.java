package io.megalith.core.model;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.Ops;

/**
 * A teacher's softened next-token distributions for knowledge distillation (Hinton et al.), and the loss that mixes
 * them with the hard targets:
 * <pre>
 *   p = softmax(teacher logits / T),  log q = log_softmax(student logits / T)
 *   loss = alpha * T^2 * mean over counted positions of sum_v p (log p - log q) + (1 - alpha) * cross-entropy
 * </pre>
 * The teacher's side is constant (computed without autograd); gradients reach only the student's logits. T^2 keeps
 * the soft term's gradient scale independent of T (its gradient is (q - p) / T per logit).
 */
public record SoftTargets(PtNDArray probs, PtNDArray logProbs, float temperature, float alpha) {

    /** The soft targets of a teacher's {@code logits} [N, V] at temperature {@code temperature}. */
    public static SoftTargets of(PtNDArray logits, float temperature, float alpha) {
        PtNDArray scaled = Ops.mul(logits, Ops.scalar(logits.getManager(), 1f / temperature));
        return new SoftTargets(Ops.softmax(scaled, -1), Ops.logSoftmax(scaled, -1), temperature, alpha);
    }

    /** The distillation loss of student {@code logits} [N, V] against these and the {@code hard} targets. */
    public PtNDArray loss(PtNDArray logits, Targets hard) {
        PtNDArray crossEntropy = Ops.crossEntropy(logits, hard.safe(), hard.mask(), hard.counted());
        PtNDArray logQ = Ops.logSoftmax(Ops.mul(logits, Ops.scalar(logits.getManager(), 1f / temperature)), -1);
        PtNDArray pointwise = Ops.mul(probs, Ops.sub(logProbs, logQ));
        if (hard.mask() != null) {
            pointwise = Ops.mul(pointwise, hard.mask()); // ignored positions teach nothing either
        }
        float softWeight = alpha * temperature * temperature / hard.counted();
        return Ops.add(Ops.mul(Ops.sum(pointwise), Ops.scalar(logits.getManager(), softWeight)),
                Ops.mul(crossEntropy, Ops.scalar(logits.getManager(), 1f - alpha)));
    }
}
