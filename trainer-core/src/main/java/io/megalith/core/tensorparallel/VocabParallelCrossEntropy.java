package io.megalith.core.tensorparallel;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.core.tensor.Ops;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Megatron's vocab-parallel cross-entropy: each tensor-parallel rank holds the logits of its vocabulary
 * slice [v0, v0 + V_r) and the full logits never exist on one rank. With m = max over the whole row
 * (all-reduce MAX, no gradient: it only stabilises), S = sum_r sum_v exp(l_v - m) (all-reduce SUM) and
 * t = l_target - m (all-reduce SUM; only the owner contributes), a row's loss is log S - t.
 *
 * <p>DJL has no custom autograd functions, so the function returns a <em>surrogate</em> scalar whose
 * gradient is exactly the loss's: sum_rows w (e_r / S - t_r) with e_r = sum_v exp(l_v - m) and t_r the
 * rank's share of t, S treated as a constant; d/dl_v = w (softmax_v - [v = target]). The loss value itself
 * is returned through {@code lossOut}.
 */
public final class VocabParallelCrossEntropy {
    private VocabParallelCrossEntropy() {}

    /**
     * @param logits [N, V_r] this rank's logits
     * @param targets host targets, -1 = not scored
     * @param v0 first vocabulary id of this rank's slice
     * @param counted number of scored targets (the loss is their mean)
     */
    public static PtNDArray surrogate(PtNDArray logits, long[] targets, long v0, long counted, Communicator tp,
            float[] lossOut) {
        NDManager m = logits.getManager();
        int n = targets.length;
        long vr = logits.getShape().get(1);
        float[] rowMax = JniUtils.max(logits, 1, false).toFloatArray();
        allReduce(tp, rowMax, ReduceOp.MAX);
        PtNDArray shifted = Ops.sub(logits, Ops.floats(m, rowMax, n, 1));
        PtNDArray e = JniUtils.sum(JniUtils.exp(shifted), new long[] {1}, false); // [N]
        long[] index = new long[n];
        float[] owned = new float[n];
        for (int i = 0; i < n; i++) {
            long local = targets[i] - v0;
            boolean mine = targets[i] >= 0 && local >= 0 && local < vr;
            index[i] = mine ? local : 0;
            owned[i] = mine ? 1f : 0f;
        }
        PtNDArray t = Ops.mul(Ops.reshape(Ops.gather(shifted, Ops.longs(m, index, n, 1), 1), n),
                Ops.floats(m, owned, n)); // [N]
        float[] sum = e.toFloatArray();
        float[] target = t.toFloatArray();
        allReduce(tp, sum, ReduceOp.SUM);
        allReduce(tp, target, ReduceOp.SUM);
        float[] we = new float[n];
        float[] wt = new float[n];
        double loss = 0;
        for (int i = 0; i < n; i++) {
            if (targets[i] < 0) {
                continue;
            }
            double w = 1.0 / counted;
            loss += w * (Math.log(sum[i]) - target[i]);
            we[i] = (float) (w / sum[i]);
            wt[i] = (float) -w;
        }
        lossOut[0] = (float) loss;
        PtNDArray fromE = Ops.sum(Ops.mul(e, Ops.floats(m, we, n)));
        PtNDArray fromT = Ops.sum(Ops.mul(t, Ops.floats(m, wt, n)));
        return Ops.add(fromE, fromT);
    }

    private static void allReduce(Communicator tp, float[] values, ReduceOp op) {
        ByteBuffer b = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        tp.allReduce(b, ElementType.F32, op);
        b.asFloatBuffer().get(values);
    }
}
