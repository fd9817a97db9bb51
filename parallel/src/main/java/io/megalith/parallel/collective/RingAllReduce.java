package io.megalith.parallel.collective;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import java.nio.ByteBuffer;

/**
 * Bandwidth-optimal all-reduce for large buffers: a {@link RingReduceScatter} in place (rank r ends with
 * segment r reduced, and for AVG divided by n) followed by a {@link RingAllGather} of the segments, the
 * gather's first sends issued chunk by chunk during the reduce-scatter's last step. Each
 * rank sends 2(n-1)/n of the buffer. Every element's final value is computed once, by its segment's
 * owner, and only copied elsewhere, so results are bit-identical on all ranks.
 */
final class RingAllReduce {
    private RingAllReduce() {}

    static void run(OpContext ctx, ByteBuffer buf, ElementType type, ReduceOp op) {
        int n = ctx.size();
        int r = ctx.rank();
        Segments seg = new Segments(buf.remaining() / type.bytes, n, type.bytes, ctx.chunkBytes());
        // Each chunk of segment r leaves for the gather as soon as it is reduced (pipelined phases).
        RingReduceScatter.run(ctx, seg, buf, seg.segment(buf, r), type, op, true);
        // The gather overwrites the regions the reduce-scatter's first step sent from (slices of segment
        // r-1 of buf; its later steps send received payloads): those sends, the operation's first, must be
        // done. The gather sends issued since need not be.
        ctx.awaitFirstSends(seg.chunks(Segments.mod(r - 1, n)));
        RingAllGather.run(ctx, seg, buf, n - 1, true);
    }
}
