package io.megalith.core.tensor;

import io.megalith.comm.DirectBuffers;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Named float32 copies in native memory, freed together by {@link #close}. What a checkpoint snapshot holds while
 * its background write runs: copies on the Java heap would make the collector grow (and, pre-touched, make resident)
 * a heap sized for the biggest save, for the rest of the run; native copies are returned to the system when the write
 * ends.
 */
public final class HostCopies implements AutoCloseable {
    private final Map<String, HostTensor> tensors = new LinkedHashMap<>();
    private final List<ByteBuffer> owned = new ArrayList<>();

    /** Copies {@code values} (its remaining floats, the tensor's row-major elements) under {@code name}. */
    public void put(String name, long[] shape, FloatBuffer values) {
        if (values.remaining() != HostTensor.numel(shape)) {
            throw new IllegalArgumentException(name + ": " + values.remaining() + " values for shape "
                    + Arrays.toString(shape));
        }
        ByteBuffer copy = DirectBuffers.floats(values.remaining());
        owned.add(copy);
        copy.asFloatBuffer().put(values.duplicate());
        if (tensors.put(name, new HostTensor(HostTensor.DType.F32, shape, copy)) != null) {
            throw new IllegalArgumentException("two copies of " + name);
        }
    }

    /** The copy of {@code name}, or null. Valid until {@link #close}. */
    public HostTensor get(String name) {
        return tensors.get(name);
    }

    /** Every copy by name, in the order put. Valid until {@link #close}. */
    public Map<String, HostTensor> tensors() {
        return Collections.unmodifiableMap(tensors);
    }

    /** Copies of every tensor on the Java heap, by name in the order put: they outlive {@link #close}. */
    public Map<String, HostTensor> onHeap() {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            ByteBuffer heap = ByteBuffer.allocate(t.data().remaining());
            heap.put(t.data().duplicate()).flip();
            out.put(name, new HostTensor(t.dtype(), t.shape(), heap));
        });
        return out;
    }

    /** Bytes held. */
    public long bytes() {
        long n = 0;
        for (ByteBuffer b : owned) {
            n += b.capacity();
        }
        return n;
    }

    /** Frees every copy now; none may be read afterwards. */
    @Override
    public void close() {
        tensors.clear();
        for (ByteBuffer b : owned) {
            DirectBuffers.free(b);
        }
        owned.clear();
    }
}
