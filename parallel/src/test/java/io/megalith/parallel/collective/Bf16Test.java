package io.megalith.parallel.collective;

import static io.megalith.parallel.collective.Reducer.fromBf16;
import static io.megalith.parallel.collective.Reducer.toBf16;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.ReduceOp;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class Bf16Test {
    private static float round(float f) {
        return fromBf16(toBf16(f));
    }

    @Test
    void roundsToNearestWithTiesToEven() {
        float ulp = 0x1p-7f; // bf16 keeps 7 mantissa bits: the spacing just above 1
        assertThat(round(1f)).isEqualTo(1f);
        assertThat(round(1f + ulp)).isEqualTo(1f + ulp);
        assertThat(round(1f + ulp / 2)).as("tie, down to even").isEqualTo(1f);
        assertThat(round(1f + 3 * ulp / 2)).as("tie, up to even").isEqualTo(1f + 2 * ulp);
        assertThat(round(1f + ulp / 2 + 0x1p-20f)).as("above the tie").isEqualTo(1f + ulp);
        assertThat(round(-1f - ulp / 4)).isEqualTo(-1f);
        assertThat(round(3.14159265f)).isEqualTo(3.140625f);
        assertThat(toBf16(1f)).isEqualTo((short) 0x3f80);
    }

    @Test
    void keepsSpecialValues() {
        assertThat(round(Float.POSITIVE_INFINITY)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(round(Float.NEGATIVE_INFINITY)).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(round(Float.NaN)).isNaN();
        assertThat(round(Float.intBitsToFloat(0x7f800001))).as("NaN with only low payload bits").isNaN();
        assertThat(round(Float.MAX_VALUE)).as("overflow rounds to infinity").isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(Float.floatToRawIntBits(round(-0f))).isEqualTo(Float.floatToRawIntBits(-0f));
        assertThat(round(Float.MIN_VALUE)).isEqualTo(0f);
    }

    @Test
    void kernelsEncodeDecodeAndAccumulateInPlace() {
        Reducer red = new Reducer();
        int n = 10_000; // more than one block
        ByteBuffer a = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            a.putFloat(4 * i, i * 0.37f - 100);
            b.putFloat(4 * i, 1.5f);
        }
        ByteBuffer wire = ByteBuffer.allocate(2 * n);
        red.encodeBf16(wire, a);
        red.accumulateBf16(wire, b, ReduceOp.SUM);
        ByteBuffer back = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        red.decodeBf16(back, wire);
        for (int i = 0; i < n; i++) {
            assertThat(back.getFloat(4 * i)).isEqualTo(round(round(i * 0.37f - 100) + 1.5f));
        }
    }
}
