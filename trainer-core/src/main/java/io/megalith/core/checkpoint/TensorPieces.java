package io.megalith.core.checkpoint;

import io.megalith.core.tensor.HostTensor;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Copies between a piece of a tensor (the index ranges {@code ranges} along {@code dim}, concatenated, all
 * other dims whole: how a tensor-parallel rank holds its slice) and the whole tensor, in any dtype.
 */
public final class TensorPieces {
    private TensorPieces() {}

    /** The ranges of a whole tensor as one piece. */
    public static long[][] whole(long[] shape) {
        return new long[][] {{0, shape.length == 0 ? 1 : shape[0]}};
    }

    /** Elements of a piece. */
    public static long numel(long[] shape, int dim, long[][] ranges) {
        if (shape.length == 0) {
            return 1;
        }
        long other = HostTensor.numel(shape) / Math.max(1, shape[dim]);
        if (shape[dim] == 0) {
            return 0;
        }
        long along = 0;
        for (long[] r : ranges) {
            if (r == null || r.length != 2 || r[0] < 0 || r[1] < r[0] || r[1] > shape[dim]) {
                throw new IllegalArgumentException("range " + Arrays.toString(r) + " outside dim " + dim + " of "
                        + Arrays.toString(shape));
            }
            along += r[1] - r[0];
        }
        return along * other;
    }

    /** The shape of a piece. */
    public static long[] pieceShape(long[] shape, int dim, long[][] ranges) {
        long[] s = shape.clone();
        if (s.length > 0) {
            long along = 0;
            for (long[] r : ranges) {
                along += r[1] - r[0];
            }
            s[dim] = along;
        }
        return s;
    }

    /** Copies {@code piece} into its place in {@code whole} (little-endian bytes of the whole tensor). */
    public static void place(HostTensor piece, byte[] whole, long[] shape, int dim, long[][] ranges) {
        copy(piece.data().duplicate(), whole, shape, dim, ranges, piece.dtype().bytes, true);
    }

    /** Cuts the piece out of a whole tensor. */
    public static HostTensor cut(HostTensor whole, int dim, long[][] ranges) {
        long[] shape = whole.shape();
        byte[] all = new byte[whole.data().remaining()];
        whole.data().duplicate().get(all);
        ByteBuffer out = ByteBuffer.allocate((int) (numel(shape, dim, ranges) * whole.dtype().bytes));
        copy(out, all, shape, dim, ranges, whole.dtype().bytes, false);
        out.flip();
        return new HostTensor(whole.dtype(), pieceShape(shape, dim, ranges), out);
    }

    private static void copy(ByteBuffer piece, byte[] whole, long[] shape, int dim, long[][] ranges, int elem,
            boolean intoWhole) {
        if (shape.length == 0) {
            if (intoWhole) {
                piece.get(whole, 0, elem);
            } else {
                piece.put(whole, 0, elem);
            }
            return;
        }
        long inner = elem;
        for (int d = dim + 1; d < shape.length; d++) {
            inner *= shape[d];
        }
        long outer = 1;
        for (int d = 0; d < dim; d++) {
            outer *= shape[d];
        }
        for (long o = 0; o < outer; o++) {
            for (long[] r : ranges) {
                int len = (int) ((r[1] - r[0]) * inner);
                int at = (int) ((o * shape[dim] + r[0]) * inner);
                if (intoWhole) {
                    piece.get(whole, at, len);
                } else {
                    piece.put(whole, at, len);
                }
            }
        }
    }
}
