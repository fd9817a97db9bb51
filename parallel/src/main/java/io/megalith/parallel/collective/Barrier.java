package io.megalith.parallel.collective;

import static io.megalith.parallel.collective.Segments.mod;

import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;

/**
 * Dissemination barrier: in round k (distance d = 2^k &lt; n) rank r sends an empty message to r+d and
 * waits for the one from r-d. After ceil(log2 n) rounds every rank has heard, directly or through others,
 * from every rank that entered, so none leaves before all have entered.
 */
final class Barrier {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private Barrier() {}

    static void run(OpContext ctx) {
        int n = ctx.size();
        int r = ctx.rank();
        int round = 0;
        for (int d = 1; d < n; d *= 2, round++) {
            ctx.send(mod(r + d, n), round, EMPTY.duplicate());
            ctx.recv(mod(r - d, n), round, 0).close();
        }
    }
}
