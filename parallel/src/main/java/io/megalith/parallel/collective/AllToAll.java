package io.megalith.parallel.collective;

import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * All-to-all with sizes unknown in advance: rank r sends {@code send[j]} to rank j as one message (a
 * message carries its own length, zero included), all sends first, then receives from ranks 0..n-1 in
 * order and copies each payload into a new buffer (one copy: the message's memory is released at once).
 */
final class AllToAll {
    private AllToAll() {}

    static ByteBuffer[] run(OpContext ctx, ByteBuffer[] send) {
        int n = ctx.size();
        int r = ctx.rank();
        for (int j = 0; j < n; j++) {
            if (j != r) {
                ctx.send(j, 0, send[j]);
            }
        }
        ByteBuffer[] out = new ByteBuffer[n];
        for (int j = 0; j < n; j++) {
            if (j == r) {
                out[j] = copyOf(send[j]);
            } else {
                try (Message m = ctx.recv(j, 0, -1)) {
                    out[j] = copyOf(m.payload());
                }
            }
        }
        return out;
    }

    private static ByteBuffer copyOf(ByteBuffer b) {
        ByteBuffer c = ByteBuffer.allocate(b.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        c.put(b.duplicate()).flip();
        return c;
    }
}
