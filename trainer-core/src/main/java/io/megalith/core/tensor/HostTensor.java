package io.megalith.core.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A tensor in host memory: dtype, shape and little-endian bytes. The neutral form in which tensors
 * cross into checkpoints, safetensors files and the wire, independent of DJL.
 */
public record HostTensor(DType dtype, long[] shape, ByteBuffer data) {
    /** Element types that cross the host boundary; names follow safetensors. */
    public enum DType {
        F32(4), F16(2), BF16(2), I64(8), I32(4), U8(1), I8(1);

        public final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    public HostTensor {
        long expected = numel(shape) * dtype.bytes;
        if (data.remaining() != expected) {
            throw new IllegalArgumentException(
                    "tensor of shape " + Arrays.toString(shape) + " and dtype " + dtype + " needs " + expected
                            + " bytes, got " + data.remaining());
        }
        shape = shape.clone();
        data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public long numel() {
        return numel(shape);
    }

    public long[] shape() {
        return shape.clone();
    }

    public static HostTensor ofFloats(float[] values, long... shape) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values);
        return new HostTensor(DType.F32, shape, buf);
    }

    public static HostTensor ofLongs(long[] values, long... shape) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        buf.asLongBuffer().put(values);
        return new HostTensor(DType.I64, shape, buf);
    }

    public float[] toFloats() {
        if (dtype != DType.F32) {
            throw new IllegalStateException("not F32: " + dtype);
        }
        float[] out = new float[(int) numel()];
        data.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    public long[] toLongs() {
        if (dtype != DType.I64) {
            throw new IllegalStateException("not I64: " + dtype);
        }
        long[] out = new long[(int) numel()];
        data.duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(out);
        return out;
    }

    /** Bytes equal (dtype, shape and content). */
    public boolean contentEquals(HostTensor other) {
        return dtype == other.dtype && Arrays.equals(shape, other.shape) && data.equals(other.data);
    }
}
