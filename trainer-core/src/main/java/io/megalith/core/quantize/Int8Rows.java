package io.megalith.core.quantize;

import io.megalith.core.tensor.HostTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A weight matrix W [rows, cols] (rows = output channels, as a Linear's weight [out, in] and a tied embedding
 * [vocab, C] are stored) as int8 with one fp32 scale per row, symmetric:
 * <pre>
 *   scale_r = max_c |W_rc| / 127        q_rc = round(W_rc / scale_r), in [-127, 127]        W_rc ~ scale_r q_rc
 * </pre>
 * so every weight is recovered within half a step, |W_rc - scale_r q_rc| <= scale_r / 2; a row of zeros has scale 0.
 * {@link #multiply} computes y = W x from the int8 values (y_r = scale_r sum_c q_rc x_c), never from a dequantised
 * copy. Stored in safetensors as an I8 tensor [rows, cols] and an F32 tensor [rows] of scales.
 */
public record Int8Rows(int rows, int cols, byte[] q, float[] scale) implements WeightRows {
    public Int8Rows {
        if ((long) rows * cols != q.length || scale.length != rows) {
            throw new IllegalArgumentException("int8 rows [" + rows + ", " + cols + "] need " + (long) rows * cols
                    + " values and " + rows + " scales, got " + q.length + " and " + scale.length);
        }
    }

    /** Quantizes row-major {@code w} [rows, cols]. */
    public static Int8Rows quantize(float[] w, int rows, int cols) {
        if ((long) rows * cols != w.length) {
            throw new IllegalArgumentException("[" + rows + ", " + cols + "] is not " + w.length + " values");
        }
        byte[] q = new byte[w.length];
        float[] scale = new float[rows];
        for (int r = 0; r < rows; r++) {
            int off = r * cols;
            float max = 0;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, Math.abs(w[off + c]));
            }
            if (max == 0) {
                continue; // scale 0, q 0: the row is exactly zero again
            }
            scale[r] = max / 127f;
            for (int c = 0; c < cols; c++) {
                // w / scale in [-127, 127] up to rounding of the division; clamp what rounding pushes past it
                int v = Math.round(w[off + c] / scale[r]);
                q[off + c] = (byte) Math.max(-127, Math.min(127, v));
            }
        }
        return new Int8Rows(rows, cols, q, scale);
    }

    /** The fp32 matrix the int8 values stand for: scale_r q_rc. */
    public float[] dequantize() {
        float[] w = new float[q.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                w[r * cols + c] = scale[r] * q[r * cols + c];
            }
        }
        return w;
    }

    /** y[yOff + r] = scale_r sum_c q_rc x[xOff + c] for rows [from, to) ({@link Int8Kernel#dot}). */
    @Override
    public void multiply(float[] x, int xOff, float[] y, int yOff, int from, int to) {
        for (int r = from; r < to; r++) {
            y[yOff + r] = scale[r] * Int8Kernel.dot(q, r * cols, x, xOff, cols);
        }
    }

    /** Row r dequantised: scale_r q_r. */
    @Override
    public void row(int r, float[] out, int off) {
        for (int c = 0; c < cols; c++) {
            out[off + c] = scale[r] * q[r * cols + c];
        }
    }

    /** y = W x for one vector x [cols]: y [rows]. */
    public float[] multiply(float[] x) {
        float[] y = new float[rows];
        multiply(x, 0, y, 0, 0, rows);
        return y;
    }

    /** Bytes held: one per weight and four per row's scale (a fp32 matrix: four per weight). */
    public long bytes() {
        return q.length + 4L * scale.length;
    }

    /** The int8 values as a safetensors I8 tensor [rows, cols]. */
    public HostTensor values() {
        return new HostTensor(HostTensor.DType.I8, new long[] {rows, cols}, ByteBuffer.wrap(q.clone()));
    }

    /** The scales as an F32 tensor [rows]. */
    public HostTensor scales() {
        return HostTensor.ofFloats(scale.clone(), rows);
    }

    /** From an I8 tensor [rows, cols] and its F32 scales [rows] (as {@link #values} and {@link #scales} wrote). */
    public static Int8Rows of(HostTensor values, HostTensor scales) {
        long[] s = values.shape();
        if (values.dtype() != HostTensor.DType.I8 || s.length != 2) {
            throw new IllegalArgumentException("int8 weights must be an I8 matrix, got " + values.dtype() + " "
                    + Arrays.toString(s));
        }
        byte[] q = new byte[(int) values.numel()];
        values.data().duplicate().order(ByteOrder.LITTLE_ENDIAN).get(q);
        return new Int8Rows((int) s[0], (int) s[1], q, scales.toFloats());
    }
}
