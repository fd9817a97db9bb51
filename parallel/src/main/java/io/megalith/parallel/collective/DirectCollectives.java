package io.megalith.parallel.collective;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;

/**
 * The latency path for small buffers (up to {@code smallMessageBytes}): one round in which every rank
 * sends each other rank what it needs directly, instead of the ring's 2(n-1) dependent steps.
 *
 * <p>Reductions combine the contributions in rank order, ((x0 op x1) op x2) ... op x(n-1), on every
 * rank, so a float all-reduce is bit-identical everywhere although each rank computes it itself. This
 * rank's own contribution is copied aside first (small by definition): the caller's buffer can then be
 * overwritten at once, and the reduction order need not depend on which rank we are.
 */
final class DirectCollectives {
    private DirectCollectives() {}

    /** Everyone sends its whole buffer to everyone; everyone reduces all n buffers in rank order. */
    static void allReduce(OpContext ctx, ByteBuffer buf, ElementType type, ReduceOp op) {
        int n = ctx.size();
        int r = ctx.rank();
        ByteBuffer own = copyOf(buf);
        for (int j = 0; j < n; j++) {
            if (j != r) {
                ctx.send(j, 0, own);
            }
        }
        reduceInRankOrder(ctx, buf, own, type, op);
    }

    /** Rank r sends segment j of its input to rank j; rank j reduces the n copies of its segment in rank order. */
    static void reduceScatter(OpContext ctx, Segments seg, ByteBuffer input, ByteBuffer output, ElementType type,
            ReduceOp op) {
        int n = ctx.size();
        int r = ctx.rank();
        ByteBuffer own = copyOf(seg.segment(input, r));
        for (int j = 0; j < n; j++) {
            if (j != r && seg.length(j) > 0) {
                ctx.send(j, 0, seg.segment(input, j));
            }
        }
        if (seg.length(r) > 0) {
            reduceInRankOrder(ctx, output, own, type, op);
        }
    }

    /** Rank r sends its part to every rank and copies every rank's part to where it belongs. */
    static void allGather(OpContext ctx, Segments seg, ByteBuffer input, ByteBuffer output) {
        int n = ctx.size();
        int r = ctx.rank();
        for (int j = 0; j < n; j++) {
            if (j != r && seg.length(r) > 0) {
                ctx.send(j, 0, input);
            }
        }
        Reducer.copy(seg.segment(output, r), input);
        for (int j = 0; j < n; j++) {
            if (j != r && seg.length(j) > 0) {
                ByteBuffer region = seg.segment(output, j);
                try (Message m = ctx.recv(j, 0, region.remaining())) {
                    Reducer.copy(region, m.payload());
                }
            }
        }
    }

    /** {@code dst} = x0 op x1 op ... op x(n-1), left to right, where x(rank) is {@code own}; then /n for AVG. */
    private static void reduceInRankOrder(OpContext ctx, ByteBuffer dst, ByteBuffer own, ElementType type,
            ReduceOp op) {
        int n = ctx.size();
        ReduceOp combineOp = op == ReduceOp.AVG ? ReduceOp.SUM : op;
        for (int j = 0; j < n; j++) {
            Message m = j == ctx.rank() ? null : ctx.recv(j, 0, dst.remaining());
            try {
                ByteBuffer x = m == null ? own : m.payload();
                if (j == 0) {
                    Reducer.copy(dst, x);
                } else {
                    ctx.reducer.combine(dst, dst, x, type, combineOp);
                }
            } finally {
                if (m != null) {
                    m.close();
                }
            }
        }
        if (op == ReduceOp.AVG) {
            ctx.reducer.divide(dst, type, n);
        }
    }

    private static ByteBuffer copyOf(ByteBuffer b) {
        ByteBuffer c = ByteBuffer.allocate(b.remaining());
        c.put(b.duplicate()).flip();
        return c;
    }
}
