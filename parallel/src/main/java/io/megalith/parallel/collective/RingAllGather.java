package io.megalith.parallel.collective;

import static io.megalith.parallel.collective.Segments.mod;

import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;

/**
 * Ring all-gather in place: {@code buf} holds all elements, segment r already filled in on rank r.
 *
 * <p>Ring step s (0 &le; s &lt; n-1): rank r sends segment (r - s) mod n to r+1 and receives segment
 * (r - s - 1) mod n from r-1 into {@code buf}; what arrives at step s is what r sends at step s+1. Each
 * rank sends (n-1)/n of the data. Chunks are forwarded from {@code buf} as soon as they land (one copy:
 * payload to buffer), so the steps pipeline as in {@link RingReduceScatter}.
 */
final class RingAllGather {
    private RingAllGather() {}

    /**
     * @param firstStep step number of this phase's first step in message tags (after a reduce-scatter: n-1)
     * @param firstSendsDone segment r was already sent to the right (by the reduce-scatter, see
     *     {@link RingReduceScatter#run}): only receive and forward
     */
    static void run(OpContext ctx, Segments seg, ByteBuffer buf, int firstStep, boolean firstSendsDone) {
        int n = ctx.size();
        int r = ctx.rank();
        int left = mod(r - 1, n);
        int right = mod(r + 1, n);
        for (int c = 0; c < seg.chunks(r) && !firstSendsDone; c++) {
            ctx.send(right, seg.tag(firstStep, c), seg.chunk(buf, r, c));
        }
        for (int s = 0; s < n - 1; s++) {
            int recvSeg = mod(r - s - 1, n);
            for (int c = 0; c < seg.chunks(recvSeg); c++) {
                ByteBuffer region = seg.chunk(buf, recvSeg, c);
                try (Message m = ctx.recv(left, seg.tag(firstStep + s, c), region.remaining())) {
                    Reducer.copy(region, m.payload());
                }
                if (s < n - 2) {
                    ctx.send(right, seg.tag(firstStep + s + 1, c), region);
                }
            }
        }
    }
}
