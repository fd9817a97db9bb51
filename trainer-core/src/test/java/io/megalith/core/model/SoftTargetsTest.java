package io.megalith.core.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * The distillation loss is alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * cross-entropy, averaged over counted positions,
 * computed here in doubles from its definition; its gradient with respect to the student's logits is
 * alpha * T (q_T - p_T) / n + (1 - alpha) (softmax - onehot) / n at counted positions and 0 at ignored ones.
 */
class SoftTargetsTest {
    private static final int N = 6;
    private static final int V = 5;

    @Test
    void lossAndGradientFollowTheDefinition() {
        Random r = new Random(3);
        float[] student = new float[N * V];
        float[] teacher = new float[N * V];
        for (int i = 0; i < student.length; i++) {
            student[i] = (float) r.nextGaussian() * 2;
            teacher[i] = (float) r.nextGaussian() * 2;
        }
        long[] targets = {0, 3, -1, 4, 1, 2}; // one ignored position
        for (float[] ta : new float[][] {{2f, 0.7f}, {1f, 1f}, {4f, 0f}}) {
            float t = ta[0];
            float alpha = ta[1];
            try (NDManager root = Torch.newManager(); NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray logits = Ops.floats(m, student, N, V);
                JniUtils.attachGradient(logits, true);
                Targets hard = Targets.of(m, targets)
                        .withSoft(SoftTargets.of(Ops.floats(m, teacher, N, V), t, alpha));
                JniUtils.setGradMode(true);
                PtNDArray loss;
                try {
                    loss = hard.loss(logits);
                } finally {
                    JniUtils.setGradMode(false);
                }
                JniUtils.backward(loss, Ops.scalar(m, 1f), false, false);
                float[] grad = JniUtils.getGradient(logits).toFloatArray();

                double want = 0;
                int counted = 5;
                for (int i = 0; i < N; i++) {
                    if (targets[i] < 0) {
                        for (int v = 0; v < V; v++) {
                            assertThat(grad[i * V + v]).as("ignored position %d", i).isZero();
                        }
                        continue;
                    }
                    double[] p = softmax(teacher, i, 1 / t);
                    double[] q = softmax(student, i, 1 / t);
                    double[] s = softmax(student, i, 1);
                    double kl = 0;
                    for (int v = 0; v < V; v++) {
                        kl += p[v] * (Math.log(p[v]) - Math.log(q[v]));
                        double onehot = v == targets[i] ? 1 : 0;
                        double g = (alpha * t * (q[v] - p[v]) + (1 - alpha) * (s[v] - onehot)) / counted;
                        assertThat((double) grad[i * V + v]).as("T %s alpha %s d/dlogit[%d,%d]", t, alpha, i, v)
                                .isCloseTo(g, Offset.offset(1e-6));
                    }
                    want += (alpha * t * t * kl - (1 - alpha) * Math.log(s[(int) targets[i]])) / counted;
                }
                assertThat((double) loss.getFloat()).as("T %s alpha %s loss", t, alpha)
                        .isCloseTo(want, Offset.offset(1e-5 * Math.abs(want)));
            }
        }
    }

    /** softmax(x[row] * scale) in doubles. */
    private static double[] softmax(float[] x, int row, double scale) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) {
            max = Math.max(max, x[row * V + v] * scale);
        }
        double[] e = new double[V];
        double sum = 0;
        for (int v = 0; v < V; v++) {
            e[v] = Math.exp(x[row * V + v] * scale - max);
            sum += e[v];
        }
        for (int v = 0; v < V; v++) {
            e[v] /= sum;
        }
        return e;
    }
}
