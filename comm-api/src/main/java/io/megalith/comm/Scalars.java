package io.megalith.comm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Collectives over a few numbers per rank (token counts, losses, squared norms). Doubles are summed in rank order
 * after an all-gather, not by an all-reduce, so every rank adds the same values in the same order and gets the same
 * bits. The buffers are freed at once: a step calls these several times and must not leave memory to the GC.
 */
public final class Scalars {
    private Scalars() {}

    /** Element-wise sums over {@code group} of one array per rank, added in rank order. */
    public static double[] sumInRankOrder(double[] mine, Communicator group) {
        int n = group.size();
        if (n == 1) {
            return mine;
        }
        int len = mine.length;
        ByteBuffer all = DirectBuffers.allocate(8L * len * n);
        try {
            ByteBuffer own = all.duplicate().position(8 * len * group.rank()).limit(8 * len * (group.rank() + 1))
                    .slice().order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < len; i++) {
                own.putLong(8 * i, Double.doubleToRawLongBits(mine[i]));
            }
            group.allGather(own, all, ElementType.I64); // in place: own is this rank's segment
            double[] sum = new double[len];
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < len; i++) {
                    sum[i] += Double.longBitsToDouble(all.getLong(8 * (r * len + i)));
                }
            }
            return sum;
        } finally {
            DirectBuffers.free(all);
        }
    }

    /** The sum over {@code group} of one double per rank, added in rank order. */
    public static double sumInRankOrder(double mine, Communicator group) {
        return sumInRankOrder(new double[] {mine}, group)[0];
    }

    /** Element-wise sums of {@code values} over {@code group}, in place. */
    public static void sum(long[] values, Communicator group) {
        if (group.size() == 1) {
            return;
        }
        ByteBuffer c = DirectBuffers.allocate(8L * values.length);
        try {
            for (int i = 0; i < values.length; i++) {
                c.putLong(8 * i, values[i]);
            }
            group.allReduce(c, ElementType.I64, ReduceOp.SUM);
            for (int i = 0; i < values.length; i++) {
                values[i] = c.getLong(8 * i);
            }
        } finally {
            DirectBuffers.free(c);
        }
    }
}
