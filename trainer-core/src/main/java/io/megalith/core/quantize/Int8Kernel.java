package io.megalith.core.quantize;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Dot products of int8 weight rows with fp32 activations, on the Vector API: each step loads L int8 weights (L the
 * widest float vector's lanes: 16 on AVX-512, 8 on AVX2), widens them to floats and multiply-adds them into L partial
 * sums with L activations. Batch-1 decoding is memory-bound (each weight is read once per token), so reading 1 byte per
 * weight instead of 4 is the point; the widening is cheap next to the memory traffic it saves.
 */
public final class Int8Kernel {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Byte> BYTES =
            VectorSpecies.of(byte.class, VectorShape.forBitSize(FLOATS.length() * Byte.SIZE));

    private Int8Kernel() {}

    /** sum_i q[qOff + i] * x[xOff + i] over i < n, accumulated in fp32 lanes, then the tail. */
    public static float dot(byte[] q, int qOff, float[] x, int xOff, int n) {
        int lanes = FLOATS.length();
        int bound = n - n % lanes;
        FloatVector acc = FloatVector.zero(FLOATS);
        int i = 0;
        for (; i < bound; i += lanes) {
            FloatVector w = (FloatVector) ByteVector.fromArray(BYTES, q, qOff + i)
                    .convertShape(VectorOperators.B2F, FLOATS, 0);
            acc = w.fma(FloatVector.fromArray(FLOATS, x, xOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += q[qOff + i] * x[xOff + i];
        }
        return sum;
    }

    /** sum_i w[wOff + i] * x[xOff + i] of two fp32 vectors, the same way (the fp32 reference's kernel). */
    public static float dot(float[] w, int wOff, float[] x, int xOff, int n) {
        int lanes = FLOATS.length();
        int bound = n - n % lanes;
        FloatVector acc = FloatVector.zero(FLOATS);
        int i = 0;
        for (; i < bound; i += lanes) {
            acc = FloatVector.fromArray(FLOATS, w, wOff + i).fma(FloatVector.fromArray(FLOATS, x, xOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += w[wOff + i] * x[xOff + i];
        }
        return sum;
    }

    /** The same sum in plain Java with a double accumulator: the reference the kernel is tested against. */
    public static double dotScalar(byte[] q, int qOff, float[] x, int xOff, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += q[qOff + i] * (double) x[xOff + i];
        }
        return sum;
    }

    /** The float lanes one step of {@link #dot} processes on this machine. */
    public static int lanes() {
        return FLOATS.length();
    }
}
