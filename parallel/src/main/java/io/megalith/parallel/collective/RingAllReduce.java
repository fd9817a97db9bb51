package io.megalith.parallel.collective;

import io.megalith.core.comm.ElementType;
import io.megalith.core.comm.ReduceOp;
import java.nio.ByteBuffer;

/**
 * Bandwidth-optimal all-reduce for large buffers: a {@link RingReduceScatter} in place (rank r ends with
 * segment r reduced, and for AVG divided by n) followed by a {@link RingAllGather} of the segments. Each
 * rank sends 2(n-1)/n of the buffer. Every element's final value is computed once, by its segment's
 * owner, and only copied elsewhere, so results are bit-identical on all ranks.
 */
final class RingAllReduce {
    private RingAllReduce() {}

    static void run(OpContext ctx, ByteBuffer buf, ElementType type, ReduceOp op) {
        Segments seg = new Segments(buf.remaining() / type.bytes, ctx.size(), type.bytes, ctx.chunkBytes());
        RingReduceScatter.run(ctx, seg, buf, seg.segment(buf, ctx.rank()), type, op);
        // The gather overwrites regions the reduce-scatter sent from (step 0 sends slices of buf).
        ctx.awaitSends();
        RingAllGather.run(ctx, seg, buf, ctx.size() - 1);
    }
}
