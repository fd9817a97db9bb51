package io.megalith.core.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.DirectBuffers;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The libtorch operations the models use, called directly through DJL's JNI layer.
 *
 * <p>Why not DJL's NDArray API: it allocates Shape/NDIndex objects and scalar tensors per call and
 * lacks fused ops we need (linear with bias, layer_norm with weight and bias). Each call here is
 * one libtorch op, recorded by autograd when grad mode is on. A result belongs to its first
 * operand's manager; callers run inside an {@link ai.djl.ndarray.NDScope} that closes them.
 */
public final class Ops {
    private Ops() {}

    public static PtNDArray pt(NDArray a) {
        return (PtNDArray) a;
    }

    /** y = x W^T + b with W [out, in]; b may be null. */
    public static PtNDArray linear(PtNDArray x, PtNDArray w, PtNDArray b) {
        return JniUtils.linear(x, w, b);
    }

    public static PtNDArray layerNorm(PtNDArray x, PtNDArray weight, PtNDArray bias, double eps) {
        long c = weight.getShape().get(0);
        return JniUtils.layerNorm(x, new Shape(c), weight, bias, eps);
    }

    /** Exact GELU, x * Phi(x), as torch.nn.GELU() with approximate='none'. */
    public static PtNDArray gelu(PtNDArray x) {
        return JniUtils.gelu(x);
    }

    public static PtNDArray embedding(PtNDArray ids, PtNDArray table) {
        return JniUtils.embedding(ids, table, false);
    }

    public static PtNDArray matmul(PtNDArray a, PtNDArray b) {
        return JniUtils.matmul(a, b);
    }

    public static PtNDArray add(PtNDArray a, PtNDArray b) {
        return JniUtils.add(a, b);
    }

    public static PtNDArray sub(PtNDArray a, PtNDArray b) {
        return JniUtils.sub(a, b);
    }

    public static PtNDArray mul(PtNDArray a, PtNDArray b) {
        return JniUtils.mul(a, b);
    }

    public static PtNDArray softmax(PtNDArray x, int dim) {
        return JniUtils.softmax(x, dim, DataType.FLOAT32);
    }

    public static PtNDArray logSoftmax(PtNDArray x, int dim) {
        return JniUtils.logSoftmax(x, dim, DataType.FLOAT32);
    }

    public static PtNDArray reshape(PtNDArray x, long... shape) {
        return JniUtils.reshape(x, shape);
    }

    public static PtNDArray permute(PtNDArray x, long... dims) {
        return JniUtils.permute(x, dims);
    }

    public static PtNDArray transpose(PtNDArray x, long d0, long d1) {
        return JniUtils.transpose(x, d0, d1);
    }

    /** x[start:end] along dim, a view. */
    public static PtNDArray slice(PtNDArray x, long dim, long start, long end) {
        return JniUtils.slice(x, dim, start, end, 1);
    }

    public static PtNDArray gather(PtNDArray x, PtNDArray index, long dim) {
        return JniUtils.gather(x, index, dim);
    }

    public static PtNDArray cat(PtNDArray[] xs, long dim) {
        return JniUtils.cat(xs, dim);
    }

    public static PtNDArray sum(PtNDArray x) {
        return JniUtils.sum(x);
    }

    public static PtNDArray mean(PtNDArray x) {
        return JniUtils.mean(x);
    }

    public static PtNDArray neg(PtNDArray x) {
        return JniUtils.neg(x);
    }

    /** A 0-d float constant; precompute these: a scalar operand per call costs several microseconds. */
    public static PtNDArray scalar(NDManager m, float v) {
        return owned(pt(m.create(v)));
    }

    /** A new float32 tensor holding a copy of {@code values} in memory libtorch owns. */
    public static PtNDArray floats(NDManager m, float[] values, long... shape) {
        if (values.length == 0) {
            return owned(pt(m.create(values, new Shape(shape))));
        }
        ByteBuffer staging = DirectBuffers.floats(values.length);
        staging.asFloatBuffer().put(values);
        return owned(m, staging, DataType.FLOAT32, shape);
    }

    /** A new int64 tensor holding a copy of {@code values} in memory libtorch owns. */
    public static PtNDArray longs(NDManager m, long[] values, long... shape) {
        if (values.length == 0) {
            return owned(pt(m.create(values, new Shape(shape))));
        }
        ByteBuffer staging = DirectBuffers.allocate(8L * values.length);
        staging.asLongBuffer().put(values);
        return owned(m, staging, DataType.INT64, shape);
    }

    /** A libtorch-owned copy of {@code staging}'s data, which is freed at once (not by a later GC: batches are per step). */
    private static PtNDArray owned(NDManager m, ByteBuffer staging, DataType type, long... shape) {
        try {
            PtNDArray over = JniUtils.createNdFromByteBuffer((PtNDManager) m, staging,
                    new Shape(shape), type, SparseFormat.DENSE, m.getDevice());
            return owned(over);
        } finally {
            DirectBuffers.free(staging);
        }
    }

    /**
     * DJL builds a tensor from Java data over a direct buffer that only its Java wrapper keeps alive. If autograd
     * saves the tensor (an embedding's ids, a gather's index, a dropout mask) and the wrapper is closed before
     * backward (a pipeline stage closes each action's tensors), the buffer can be collected under libtorch's
     * feet. A clone lives in libtorch's own memory, kept alive by whatever references it.
     */
    private static PtNDArray owned(PtNDArray fromJava) {
        PtNDArray copy = JniUtils.clone(fromJava);
        fromJava.close();
        return copy;
    }

    /** A tensor's memory as a little-endian buffer; with {@code view} a zero-copy window (valid while it lives). */
    public static ByteBuffer bytes(PtNDArray x, boolean view) {
        return x.toByteBuffer(view).order(ByteOrder.LITTLE_ENDIAN);
    }

    public static float item(PtNDArray x) {
        return x.getFloat();
    }

    /**
     * Mean negative log-likelihood of {@code targets} under {@code logits} [N, V]; targets [N] int64 with
     * -1 meaning "ignore". {@code counted} is the number of targets that are not ignored (known on the
     * host, so no device reduction is needed for it); {@code ignoreMask} is a float [N, 1] of 0/1 or null
     * when nothing is ignored. {@code safeTargets} are the targets with -1 replaced by 0, shape [N, 1].
     */
    public static PtNDArray crossEntropy(PtNDArray logits, PtNDArray safeTargets, PtNDArray ignoreMask, long counted) {
        PtNDArray logp = logSoftmax(logits, -1);
        PtNDArray picked = gather(logp, safeTargets, 1);
        if (ignoreMask != null) {
            picked = mul(picked, ignoreMask);
        }
        PtNDArray total = sum(picked);
        PtNDArray scale = scalar(logits.getManager(), -1f / counted);
        return mul(total, scale);
    }

    public static PtNDManager managerOf(PtNDArray x) {
        return x.getManager();
    }

    // ---------------------------------------------------------------------------------------------
    // Ops added for the encoder (BERT) and encoder-decoder families and LoRA (model/bert, model/seq2seq,
    // model/transformer, lora).
    // ---------------------------------------------------------------------------------------------

    public static PtNDArray tanh(PtNDArray x) {
        return JniUtils.tanh(x);
    }

    /** Rows {@code rows} of x along dimension 0 (index_select), any rank; e.g. reordering beams of a KV cache. */
    public static PtNDArray selectRows(PtNDArray x, long[] rows) {
        long[] shape = x.getShape().getShape();
        long rest = x.getShape().size() / shape[0];
        PtNDArray table = reshape(x, shape[0], rest);
        PtNDArray picked = embedding(longs(x.getManager(), rows, rows.length), table);
        long[] out = shape.clone();
        out[0] = rows.length;
        return reshape(picked, out);
    }

    /** x += y in place (no autograd: call with grad mode off; x may be a parameter view). */
    public static void addInPlace(PtNDArray x, PtNDArray y) {
        JniUtils.addi(x, y);
    }
}
