package io.megalith.core.quantize;

import io.megalith.core.tensor.HostTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * 16-bit storage of fp32 weights: IEEE half (F16: 1 sign, 5 exponent, 10 fraction bits; subnormals below 2^-14,
 * infinity above 65504) and bfloat16 (BF16: fp32's upper 16 bits), both rounded to nearest, ties to even; NaN stays
 * NaN. Java 17 has no Float.floatToFloat16, hence the bit arithmetic.
 */
public final class HalfFloats {
    private HalfFloats() {}

    /** f rounded to the nearest IEEE half, ties to even. */
    public static short toF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs > 0x7f800000) {
            return (short) (sign | 0x7e00); // NaN (quiet)
        }
        if (abs >= 0x477ff000) {
            return (short) (sign | 0x7c00); // >= 65520 rounds to infinity (and infinity stays)
        }
        if (abs >= 0x38800000) { // normal half: exponent >= -14
            // rebias the exponent (127 -> 15) and drop 13 fraction bits, rounding to nearest even
            int rounded = abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1);
            return (short) (sign | (rounded >>> 13));
        }
        if (abs < 0x33000000) {
            return (short) sign; // below half the smallest subnormal (2^-25): zero
        }
        // subnormal half: value = m 2^-24; shift the implicit-1 mantissa right, rounding to nearest even
        int exp = abs >>> 23;
        int mantissa = (abs & 0x7fffff) | 0x800000;
        int shift = 126 - exp; // 2^(exp-127) * (mantissa / 2^23) = m * 2^-24  =>  m = mantissa >> (126 - exp)
        int m = mantissa >>> shift;
        int rest = mantissa & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (rest > half || (rest == half && (m & 1) == 1)) {
            m++;
        }
        return (short) (sign | m);
    }

    public static float fromF16(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int fraction = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (fraction << 13)); // infinity or NaN
        }
        if (exp == 0) {
            float v = fraction * 0x1p-24f; // subnormal (or zero)
            return sign == 0 ? v : -v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (fraction << 13));
    }

    /** f rounded to bfloat16, ties to even. */
    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40); // NaN stays a (quiet) NaN
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    public static float fromBf16(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    /** Every F32 tensor of {@code weights} stored as {@code dtype} (F16 or BF16); others as they are. */
    public static Map<String, HostTensor> convert(Map<String, HostTensor> weights, HostTensor.DType dtype) {
        if (dtype != HostTensor.DType.F16 && dtype != HostTensor.DType.BF16) {
            throw new IllegalArgumentException("16-bit storage is F16 or BF16, not " + dtype);
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : weights.entrySet()) {
            HostTensor t = e.getValue();
            if (t.dtype() != HostTensor.DType.F32) {
                out.put(e.getKey(), t);
                continue;
            }
            float[] v = t.toFloats();
            ByteBuffer buf = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            ShortBuffer s = buf.asShortBuffer();
            for (float f : v) {
                s.put(dtype == HostTensor.DType.F16 ? toF16(f) : toBf16(f));
            }
            out.put(e.getKey(), new HostTensor(dtype, t.shape(), buf));
        }
        return out;
    }

    /** A F16 or BF16 tensor widened back to F32 (exactly: every 16-bit value is a float). */
    public static HostTensor widen(HostTensor t) {
        if (t.dtype() != HostTensor.DType.F16 && t.dtype() != HostTensor.DType.BF16) {
            return t;
        }
        ShortBuffer s = t.data().duplicate().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
        float[] v = new float[s.remaining()];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.dtype() == HostTensor.DType.F16 ? fromF16(s.get(i)) : fromBf16(s.get(i));
        }
        return HostTensor.ofFloats(v, t.shape());
    }
}
