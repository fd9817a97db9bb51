package io.megalith.parallel.collective;

import static io.megalith.parallel.collective.Segments.mod;

import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;

/**
 * Broadcast from any root. Small buffers: the root sends the whole buffer to every rank directly (one
 * round). Large buffers: a pipelined chain root, root+1, ..., root+n-1 (mod n): the buffer is cut into
 * chunks and each rank forwards chunk c to the next as soon as it has landed in its own buffer, so the
 * time is about (chunks + n - 2) chunk transfers rather than (n - 1) whole-buffer transfers, and every
 * link carries the buffer once.
 */
final class Broadcast {
    private Broadcast() {}

    static void run(OpContext ctx, ByteBuffer buf, int root) {
        int n = ctx.size();
        int r = ctx.rank();
        int bytes = buf.remaining();
        if (bytes <= ctx.smallMessageBytes()) {
            if (r == root) {
                for (int j = 0; j < n; j++) {
                    if (j != root) {
                        ctx.send(j, 0, buf);
                    }
                }
            } else {
                try (Message m = ctx.recv(root, 0, bytes)) {
                    Reducer.copy(buf, m.payload());
                }
            }
            return;
        }
        // Chain position p = (r - root) mod n: receive from position p-1, send to position p+1.
        int p = mod(r - root, n);
        int prev = mod(r - 1, n);
        int next = mod(r + 1, n);
        Segments chunks = new Segments(bytes, 1, 1, ctx.chunkBytes());
        for (int c = 0; c < chunks.chunks(0); c++) {
            ByteBuffer region = chunks.chunk(buf, 0, c);
            if (p > 0) {
                try (Message m = ctx.recv(prev, c, region.remaining())) {
                    Reducer.copy(region, m.payload());
                }
            }
            if (p < n - 1) {
                ctx.send(next, c, region);
            }
        }
    }
}
