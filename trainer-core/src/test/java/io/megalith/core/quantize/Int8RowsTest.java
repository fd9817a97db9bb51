package io.megalith.core.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.checkpoint.Safetensors;
import io.megalith.core.tensor.HostTensor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Int8RowsTest {
    private static float[] gaussian(int n, long seed, float std) {
        Random r = new Random(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) (r.nextGaussian() * std);
        }
        return w;
    }

    @Test
    void everyWeightComesBackWithinHalfItsRowsStep() {
        int rows = 37;
        int cols = 101;
        float[] w = gaussian(rows * cols, 1, 0.02f);
        for (int c = 0; c < cols; c++) {
            w[5 * cols + c] = 0; // a row of zeros: scale 0, recovered exactly
            w[7 * cols + c] *= 40; // a row with a much larger range than the others
        }
        Int8Rows q = Int8Rows.quantize(w, rows, cols);
        float[] back = q.dequantize();
        for (int r = 0; r < rows; r++) {
            float max = 0;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, Math.abs(w[r * cols + c]));
            }
            assertThat(q.scale()[r]).isEqualTo(max / 127f);
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                assertThat(Math.abs(q.q()[i])).isLessThanOrEqualTo(127);
                // half a step, plus the float rounding of scale * q
                assertThat((double) Math.abs(back[i] - w[i])).as("row %d col %d", r, c)
                        .isLessThanOrEqualTo(q.scale()[r] / 2 * (1 + 1e-5) + 1e-12);
            }
        }
        assertThat(q.scale()[5]).isZero();
        assertThat(back[5 * cols + 3]).isZero();
        // the largest weight of each non-zero row maps to +-127 exactly
        int argmax = 0;
        for (int c = 1; c < cols; c++) {
            if (Math.abs(w[7 * cols + c]) > Math.abs(w[7 * cols + argmax])) {
                argmax = c;
            }
        }
        assertThat(Math.abs(q.q()[7 * cols + argmax])).isEqualTo(127);
    }

    @Test
    void theKernelsProductEqualsTheDequantisedMatrixTimesX() {
        // columns that are and are not a multiple of the vector lanes, and shorter than one vector
        for (int cols : new int[] {3, Int8Kernel.lanes(), 4 * Int8Kernel.lanes() + 5, 384}) {
            int rows = 29;
            Int8Rows q = Int8Rows.quantize(gaussian(rows * cols, cols, 0.05f), rows, cols);
            float[] x = gaussian(cols, 7 + cols, 1f);
            float[] y = q.multiply(x);
            float[] w = q.dequantize();
            for (int r = 0; r < rows; r++) {
                double expect = 0;
                double magnitude = 0;
                for (int c = 0; c < cols; c++) {
                    expect += (double) w[r * cols + c] * x[c];
                    magnitude += Math.abs((double) w[r * cols + c] * x[c]);
                }
                assertThat((double) y[r]).as("cols %d row %d", cols, r).isCloseTo(expect,
                        org.assertj.core.data.Offset.offset(2e-5 * magnitude + 1e-12));
                assertThat((double) Int8Kernel.dot(q.q(), r * cols, x, 0, cols)).isCloseTo(
                        Int8Kernel.dotScalar(q.q(), r * cols, x, 0, cols),
                        org.assertj.core.data.Offset.offset(1e-5 * magnitude / Math.max(q.scale()[r], 1e-30)));
            }
        }
    }

    @Test
    void roundTripsThroughSafetensorsAsI8AndScales() throws Exception {
        Int8Rows q = Int8Rows.quantize(gaussian(6 * 10, 3, 1f), 6, 10);
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        tensors.put("w", q.values());
        tensors.put("w.scale", q.scales());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Safetensors.write(out, tensors, Map.of());
        byte[] bytes = out.toByteArray();
        Map<String, HostTensor> read = Safetensors.read(new ByteArrayInputStream(bytes), bytes.length).tensors();
        assertThat(read.get("w").dtype()).isEqualTo(HostTensor.DType.I8);
        Int8Rows back = Int8Rows.of(read.get("w"), read.get("w.scale"));
        assertThat(back.q()).isEqualTo(q.q());
        assertThat(back.scale()).isEqualTo(q.scale());
        assertThat(back.bytes()).isEqualTo(6 * 10 + 4 * 6);
    }

    @Test
    void refusesShapesThatDoNotMatch() {
        assertThatThrownBy(() -> Int8Rows.quantize(new float[10], 3, 4)).hasMessageContaining("[3, 4]");
        assertThatThrownBy(() -> Int8Rows.of(HostTensor.ofFloats(new float[4], 2, 2), HostTensor.ofFloats(
                new float[2], 2))).hasMessageContaining("I8 matrix");
    }
}
