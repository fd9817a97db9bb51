package io.megalith.parallel.collective;

import static io.megalith.parallel.collective.Segments.mod;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;

/**
 * Bandwidth-optimal ring reduce-scatter: n-1 steps in which every rank sends (n-1)/n of the data once.
 *
 * <p>Ring step s (0 &le; s &lt; n-1): rank r sends its partial sum of segment (r - s - 1) mod n to r+1 and
 * receives the partial sum of segment (r - s - 2) mod n from r-1, which it combines with its own input.
 * A partial sum received at step s is exactly what r sends at step s+1, so after n-1 steps rank r holds
 * segment (r - n) mod n = r reduced over all ranks, as the partition of {@code partStart} wants.
 *
 * <p>Pipelining: segments are cut into chunks and every chunk is forwarded as soon as it is combined, so
 * chunk c of step s+1 travels while chunk c+1 of step s is still arriving; sends are never awaited in the
 * middle of the ring, so all chunks may be in flight at once. Zero copies: step 0 sends slices of the
 * input; later steps combine the input into the received payload and forward that payload (the message is
 * released when its send is done); the last step combines straight into the output. The input is only read.
 *
 * <p>For AVG each output chunk is divided by n as soon as it is final, so an all-reduce may start
 * gathering it at once ({@code startGather}): its first all-gather send then leaves while the rest of the
 * reduce-scatter still arrives, instead of after the whole phase.
 */
final class RingReduceScatter {
    private RingReduceScatter() {}

    /**
     * @param input all elements; read only
     * @param output segment r (may be segment r of {@code input} itself, as in an in-place all-reduce)
     * @param startGather also send each final chunk of the output to the right as step 0 of a
     *     {@link RingAllGather} (of {@code input}, starting at step n-1) as soon as it is final
     */
    static void run(OpContext ctx, Segments seg, ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op,
            boolean startGather) {
        int n = ctx.size();
        int r = ctx.rank();
        int left = mod(r - 1, n);
        int right = mod(r + 1, n);
        ReduceOp combineOp = op == ReduceOp.AVG ? ReduceOp.SUM : op;

        int first = mod(r - 1, n);
        for (int c = 0; c < seg.chunks(first); c++) {
            ctx.send(right, seg.tag(0, c), seg.chunk(input, first, c));
        }
        for (int s = 0; s < n - 1; s++) {
            int recvSeg = mod(r - s - 2, n);
            boolean last = s == n - 2;
            for (int c = 0; c < seg.chunks(recvSeg); c++) {
                ByteBuffer mine = seg.chunk(input, recvSeg, c);
                Message m = ctx.recv(left, seg.tag(s, c), mine.remaining());
                ByteBuffer theirs = Reducer.le(m.payload());
                if (last) {
                    ByteBuffer result = seg.chunkOfSegment(output, r, c);
                    try {
                        ctx.reducer.combine(result, mine, theirs, type, combineOp);
                    } finally {
                        m.close();
                    }
                    if (op == ReduceOp.AVG) {
                        ctx.reducer.divide(result, type, n); // once, by the owner: every rank then gets these same bits
                    }
                    if (startGather) {
                        ctx.send(right, seg.tag(n - 1, c), result);
                    }
                } else if (!theirs.isReadOnly()) {
                    ctx.reducer.combine(theirs, theirs, mine, type, combineOp);
                    ctx.forward(right, seg.tag(s + 1, c), theirs, m);
                } else {
                    ByteBuffer acc = ByteBuffer.allocate(mine.remaining());
                    try {
                        ctx.reducer.combine(acc, theirs, mine, type, combineOp);
                    } finally {
                        m.close();
                    }
                    ctx.send(right, seg.tag(s + 1, c), acc);
                }
            }
        }
    }
}
