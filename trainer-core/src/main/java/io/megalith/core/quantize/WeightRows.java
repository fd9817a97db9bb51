package io.megalith.core.quantize;

/**
 * A weight matrix [rows, cols] as the batch-1 decoder reads it: y = W x over a range of rows, and one row (an
 * embedding lookup). {@link Int8Rows} computes from int8 values; {@link Fp32Rows} is the fp32 reference.
 */
public interface WeightRows {
    int rows();

    int cols();

    /** y[yOff + r] = sum_c W_rc x[xOff + c] for rows r in [from, to). */
    void multiply(float[] x, int xOff, float[] y, int yOff, int from, int to);

    /** Row r into out[off, off + cols). */
    void row(int r, float[] out, int off);
}
