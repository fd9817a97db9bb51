package io.megalith.core.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.tensor.HostTensor;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HalfFloatsTest {
    @Test
    void everyHalfSurvivesTheRoundTripAndOrdersAsItsFloat() {
        for (int h = 0; h < 0x10000; h++) {
            short bits = (short) h;
            float f = HalfFloats.fromF16(bits);
            if (Float.isNaN(f)) {
                assertThat(HalfFloats.fromF16(HalfFloats.toF16(f))).isNaN();
                continue;
            }
            assertThat(HalfFloats.toF16(f)).as("half 0x%04x = %s", h, f).isEqualTo(bits);
        }
        assertThat(HalfFloats.fromF16((short) 0x3c00)).isEqualTo(1f);
        assertThat(HalfFloats.fromF16((short) 0x7bff)).isEqualTo(65504f);
        assertThat(HalfFloats.fromF16((short) 0x0001)).isEqualTo(0x1p-24f);
        assertThat(HalfFloats.fromF16((short) 0xc000)).isEqualTo(-2f);
    }

    @Test
    void roundsToTheNearestHalfTiesToEven() {
        Random r = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            // floats across the normal, subnormal and overflow ranges of a half
            float f = (float) (r.nextGaussian() * Math.pow(2, r.nextInt(44) - 28));
            float got = HalfFloats.fromF16(HalfFloats.toF16(f));
            float best = nearestHalf(f);
            assertThat(got).as("%s", f).isEqualTo(best);
        }
        // exact ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 (even: 1); 1 + 3 * 2^-11 rounds up to even
        assertThat(HalfFloats.fromF16(HalfFloats.toF16(1 + 0x1p-11f))).isEqualTo(1f);
        assertThat(HalfFloats.fromF16(HalfFloats.toF16(1 + 3 * 0x1p-11f))).isEqualTo(1 + 2 * 0x1p-10f);
        assertThat(HalfFloats.fromF16(HalfFloats.toF16(65520f))).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(HalfFloats.fromF16(HalfFloats.toF16(65519f))).isEqualTo(65504f);
        assertThat(HalfFloats.fromF16(HalfFloats.toF16(0x1p-25f))).isEqualTo(0f); // a tie with zero: even
        assertThat(HalfFloats.fromF16(HalfFloats.toF16(0x1.8p-25f))).isEqualTo(0x1p-24f);
    }

    /** The nearest half by search over all finite halves of the same sign (ties: even bits). */
    private static float nearestHalf(float f) {
        float best = Float.NaN;
        double bestErr = Double.MAX_VALUE;
        int bestBits = -1;
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x8000 : 0;
        for (int h = 0; h <= 0x7c00; h++) {
            float v = HalfFloats.fromF16((short) (sign | h));
            double err = Math.abs((double) v - f);
            if (h == 0x7c00) {
                // infinity is the answer only past 65520 (halfway between 65504 and the next step, 65536)
                if (Math.abs(f) >= 65520f) {
                    return v;
                }
                continue;
            }
            if (err < bestErr || (err == bestErr && (h & 1) == 0 && (bestBits & 1) == 1)) {
                best = v;
                bestErr = err;
                bestBits = h;
            }
        }
        return best;
    }

    @Test
    void bfloat16KeepsTheUpperBitsRoundedToEven() {
        assertThat(HalfFloats.fromBf16(HalfFloats.toBf16(1f))).isEqualTo(1f);
        assertThat(HalfFloats.fromBf16(HalfFloats.toBf16(1 + 0x1p-8f))).isEqualTo(1f); // tie: even
        assertThat(HalfFloats.fromBf16(HalfFloats.toBf16(1 + 3 * 0x1p-8f))).isEqualTo(1 + 0x1p-6f);
        assertThat(HalfFloats.fromBf16(HalfFloats.toBf16(Float.NaN))).isNaN();
        // within half a step (2^-8 relative: 7 stored fraction bits), and fp32's range kept
        assertThat((double) HalfFloats.fromBf16(HalfFloats.toBf16(3e38f)) / 3e38).isCloseTo(1.0,
                org.assertj.core.data.Offset.offset(0x1p-8));
    }

    @Test
    void convertsStateDictsAndWidensThemBack() {
        Map<String, HostTensor> w = Map.of("a", HostTensor.ofFloats(new float[] {1f, -0.5f, 1e-3f, 7f}, 2, 2),
                "ids", HostTensor.ofLongs(new long[] {1, 2}, 2));
        for (HostTensor.DType d : new HostTensor.DType[] {HostTensor.DType.F16, HostTensor.DType.BF16}) {
            Map<String, HostTensor> half = HalfFloats.convert(w, d);
            assertThat(half.get("a").dtype()).isEqualTo(d);
            assertThat(half.get("a").data().remaining()).isEqualTo(8);
            assertThat(half.get("ids").dtype()).isEqualTo(HostTensor.DType.I64);
            float[] back = HalfFloats.widen(half.get("a")).toFloats();
            assertThat(back[0]).isEqualTo(1f);
            assertThat(back[1]).isEqualTo(-0.5f);
            assertThat(back[3]).isEqualTo(7f);
            assertThat((double) back[2]).isCloseTo(1e-3, org.assertj.core.data.Offset.offset(1e-5));
        }
    }
}
