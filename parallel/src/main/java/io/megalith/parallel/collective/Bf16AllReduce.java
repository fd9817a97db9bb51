package io.megalith.parallel.collective;

import static io.megalith.parallel.collective.Segments.mod;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;

/**
 * F32 all-reduce with a bfloat16 wire format ({@link CommOptions#bf16Wire()}): half the bytes on every
 * link. Values are rounded to bf16 (nearest even) whenever they leave a rank and are widened and
 * combined in fp32 on arrival. Results stay bit-identical across ranks:
 * <ul>
 *   <li>ring (as {@link RingAllReduce}): the owner of a segment combines it in fp32, divides for AVG,
 *       then rounds its own copy to bf16, which is exactly what the others decode in the all-gather;
 *       partial sums travel as bf16 and are re-rounded in place in the received payload.
 *   <li>latency path (as {@link DirectCollectives}): every rank, its own buffer included, contributes
 *       its bf16-rounded values, combined in fp32 in rank order 0..n-1.
 * </ul>
 */
final class Bf16AllReduce {
    private Bf16AllReduce() {}

    static void direct(OpContext ctx, ByteBuffer buf, ReduceOp op) {
        int n = ctx.size();
        int r = ctx.rank();
        ReduceOp combineOp = op == ReduceOp.AVG ? ReduceOp.SUM : op;
        ByteBuffer own = ByteBuffer.allocate(buf.remaining() / 2);
        ctx.reducer.encodeBf16(own, buf);
        for (int j = 0; j < n; j++) {
            if (j != r) {
                ctx.send(j, 0, own);
            }
        }
        for (int j = 0; j < n; j++) {
            Message m = j == r ? null : ctx.recv(j, 0, own.remaining());
            try {
                ByteBuffer x = m == null ? own : m.payload();
                if (j == 0) {
                    ctx.reducer.decodeBf16(buf, x);
                } else {
                    ctx.reducer.combineFromBf16(buf, buf, x, combineOp);
                }
            } finally {
                if (m != null) {
                    m.close();
                }
            }
        }
        if (op == ReduceOp.AVG) {
            ctx.reducer.divide(buf, ElementType.F32, n);
        }
    }

    /** Ring steps and chunk cuts (in f32 elements) exactly as {@link RingReduceScatter} and {@link RingAllGather}. */
    static void ring(OpContext ctx, ByteBuffer buf, ReduceOp op) {
        int n = ctx.size();
        int r = ctx.rank();
        int left = mod(r - 1, n);
        int right = mod(r + 1, n);
        ReduceOp combineOp = op == ReduceOp.AVG ? ReduceOp.SUM : op;
        Segments seg = new Segments(buf.remaining() / 4, n, 4, ctx.chunkBytes());

        // reduce-scatter, step s: send segment (r - s - 1), receive segment (r - s - 2) and combine
        sendEncoded(ctx, seg, buf, mod(r - 1, n), right, 0);
        for (int s = 0; s < n - 1; s++) {
            int recvSeg = mod(r - s - 2, n);
            for (int c = 0; c < seg.chunks(recvSeg); c++) {
                ByteBuffer mine = seg.chunk(buf, recvSeg, c);
                Message m = ctx.recv(left, seg.tag(s, c), mine.remaining() / 2);
                ByteBuffer wire = Reducer.le(m.payload());
                if (s == n - 2) {
                    try {
                        ctx.reducer.combineFromBf16(mine, mine, wire, combineOp); // segment r, in fp32
                    } finally {
                        m.close();
                    }
                } else if (!wire.isReadOnly()) {
                    ctx.reducer.accumulateBf16(wire, mine, combineOp);
                    ctx.forward(right, seg.tag(s + 1, c), wire, m);
                } else {
                    ByteBuffer acc = ByteBuffer.allocate(wire.remaining());
                    try {
                        Reducer.copy(acc, wire);
                    } finally {
                        m.close();
                    }
                    ctx.reducer.accumulateBf16(acc, mine, combineOp);
                    ctx.send(right, seg.tag(s + 1, c), acc);
                }
            }
        }
        ByteBuffer owned = seg.segment(buf, r);
        if (op == ReduceOp.AVG) {
            ctx.reducer.divide(owned, ElementType.F32, n);
        }
        ctx.reducer.roundToBf16(owned); // what the others will decode: the same bits everywhere

        // all-gather, step s: send segment (r - s), receive segment (r - s - 1), forward its payload as is
        sendEncoded(ctx, seg, buf, r, right, n - 1);
        for (int s = 0; s < n - 1; s++) {
            int recvSeg = mod(r - s - 1, n);
            for (int c = 0; c < seg.chunks(recvSeg); c++) {
                ByteBuffer region = seg.chunk(buf, recvSeg, c);
                Message m = ctx.recv(left, seg.tag(n - 1 + s, c), region.remaining() / 2);
                try {
                    ctx.reducer.decodeBf16(region, m.payload());
                } catch (RuntimeException e) {
                    m.close();
                    throw e;
                }
                if (s < n - 2) {
                    ctx.forward(right, seg.tag(n + s, c), Reducer.le(m.payload()), m);
                } else {
                    m.close();
                }
            }
        }
    }

    /** Sends every chunk of segment {@code s} of {@code buf}, encoded into a fresh bf16 buffer, at ring step {@code step}. */
    private static void sendEncoded(OpContext ctx, Segments seg, ByteBuffer buf, int s, int to, int step) {
        for (int c = 0; c < seg.chunks(s); c++) {
            ByteBuffer f32 = seg.chunk(buf, s, c);
            ByteBuffer wire = ByteBuffer.allocate(f32.remaining() / 2);
            ctx.reducer.encodeBf16(wire, f32);
            ctx.send(to, seg.tag(step, c), wire);
        }
    }
}
