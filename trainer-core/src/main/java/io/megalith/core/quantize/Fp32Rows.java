package io.megalith.core.quantize;

/** A fp32 matrix [rows, cols], row-major: the reference {@link Int8Rows} is measured against. */
public record Fp32Rows(int rows, int cols, float[] w) implements WeightRows {
    public Fp32Rows {
        if ((long) rows * cols != w.length) {
            throw new IllegalArgumentException("[" + rows + ", " + cols + "] is not " + w.length + " values");
        }
    }

    @Override
    public void multiply(float[] x, int xOff, float[] y, int yOff, int from, int to) {
        for (int r = from; r < to; r++) {
            y[yOff + r] = Int8Kernel.dot(w, r * cols, x, xOff, cols);
        }
    }

    @Override
    public void row(int r, float[] out, int off) {
        System.arraycopy(w, r * cols, out, off, cols);
    }
}
