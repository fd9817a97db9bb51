package io.megalith.core.tensorparallel;

import io.megalith.comm.Communicator;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.HostTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Converts between a tensor-parallel rank's local tensors (its slices of sliced parameters, its copy of
 * replicated ones) and the one-rank model's full tensors, for checkpoints (which are layout-independent)
 * and for evaluating with a full model. Names may carry a prefix such as {@code exp_avg.}.
 */
public final class TensorParallelState {
    private TensorParallelState() {}

    /**
     * Full tensors from every rank's local ones named {@code prefix + parameter name} (a collective over
     * {@code tp}: every rank passes the same names).
     */
    public static Map<String, HostTensor> gather(Map<String, HostTensor> local, List<Parameter> params, Communicator tp,
            String prefix) {
        if (tp.size() == 1) {
            return local;
        }
        Map<String, Parameter> byName = new HashMap<>();
        for (Parameter p : params) {
            byName.put(prefix + p.name(), p);
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : local.entrySet()) {
            Parameter p = byName.get(e.getKey());
            if (p == null) {
                throw new IllegalArgumentException("no parameter for tensor " + e.getKey());
            }
            Parameter.Sharding s = p.sharding();
            if (s.kind() != Parameter.Sharding.Kind.SLICE) {
                out.put(e.getKey(), e.getValue()); // replicas are equal on every rank after the update
                continue;
            }
            ByteBuffer mine = encode(s.ranges(), e.getValue().toFloats());
            ByteBuffer[] send = new ByteBuffer[tp.size()];
            for (int r = 0; r < send.length; r++) {
                send[r] = mine.duplicate();
            }
            ByteBuffer[] all = tp.allToAll(send);
            float[] full = new float[(int) HostTensor.numel(s.fullShape())];
            for (ByteBuffer b : all) {
                b.order(ByteOrder.LITTLE_ENDIAN);
                int n = b.getInt(0);
                long[][] ranges = new long[n][2];
                for (int i = 0; i < n; i++) {
                    ranges[i][0] = b.getLong(4 + 16 * i);
                    ranges[i][1] = b.getLong(12 + 16 * i);
                }
                float[] data = new float[(b.remaining() - 4 - 16 * n) / 4];
                b.duplicate().order(ByteOrder.LITTLE_ENDIAN).position(b.position() + 4 + 16 * n).asFloatBuffer().get(data);
                place(data, full, s.fullShape(), s.dim(), ranges, true);
            }
            out.put(e.getKey(), HostTensor.ofFloats(full, s.fullShape()));
        }
        return out;
    }

    /** This rank's local tensors cut from full ones. */
    public static Map<String, HostTensor> slice(Map<String, HostTensor> full, List<Parameter> params, String prefix) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Parameter p : params) {
            HostTensor t = full.get(prefix + p.name());
            if (t == null) {
                continue;
            }
            Parameter.Sharding s = p.sharding();
            if (s.kind() != Parameter.Sharding.Kind.SLICE) {
                out.put(prefix + p.name(), t);
                continue;
            }
            float[] local = new float[(int) p.numel()];
            place(local, t.toFloats(), s.fullShape(), s.dim(), s.ranges(), false);
            out.put(prefix + p.name(), HostTensor.ofFloats(local, p.shape()));
        }
        return out;
    }

    private static ByteBuffer encode(long[][] ranges, float[] data) {
        ByteBuffer b = ByteBuffer.allocate(4 + 16 * ranges.length + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(ranges.length);
        for (long[] r : ranges) {
            b.putLong(r[0]).putLong(r[1]);
        }
        b.asFloatBuffer().put(data);
        b.position(0);
        return b;
    }

    /**
     * Copies between a slice (the given ranges along dim, concatenated) and the full tensor: slice -> full
     * when {@code intoFull}, full -> slice otherwise.
     */
    static void place(float[] slice, float[] full, long[] fullShape, int dim, long[][] ranges, boolean intoFull) {
        long inner = 1;
        for (int d = dim + 1; d < fullShape.length; d++) {
            inner *= fullShape[d];
        }
        long outer = 1;
        for (int d = 0; d < dim; d++) {
            outer *= fullShape[d];
        }
        int k = 0;
        for (long o = 0; o < outer; o++) {
            for (long[] r : ranges) {
                int len = (int) ((r[1] - r[0]) * inner);
                int at = (int) ((o * fullShape[dim] + r[0]) * inner);
                if (intoFull) {
                    System.arraycopy(slice, k, full, at, len);
                } else {
                    System.arraycopy(full, at, slice, k, len);
                }
                k += len;
            }
        }
    }
}
