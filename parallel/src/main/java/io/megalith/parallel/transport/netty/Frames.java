package io.megalith.parallel.transport.netty;

import io.megalith.parallel.transport.MessageKey;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;

/**
 * The wire format. Every frame is {@code int length} (bytes after the prefix) followed by
 * {@code byte type} and the body; all integers big-endian:
 * <ul>
 *   <li>{@link #CONTROL}: a Kryo-serialized {@link Control} message (handshake, goodbye);</li>
 *   <li>{@link #DATA}: {@code int group, long sequence, int tag}, then the payload bytes.</li>
 * </ul>
 */
final class Frames {
    static final int LENGTH_BYTES = 4;
    static final byte CONTROL = 1;
    static final byte DATA = 2;
    /** type + group + sequence + tag; what a data frame adds to its payload. */
    static final int DATA_HEADER_BYTES = 1 + 4 + 8 + 4;

    private Frames() {}

    /**
     * A data frame whose payload is not copied: the header and a wrapper of the caller's buffer form one
     * composite, written with a single {@code write} so concurrent senders never interleave their parts.
     */
    static ByteBuf data(ByteBufAllocator alloc, MessageKey key, ByteBuffer payload) {
        int n = payload.remaining();
        ByteBuf header = alloc.directBuffer(LENGTH_BYTES + DATA_HEADER_BYTES);
        header.writeInt(DATA_HEADER_BYTES + n).writeByte(DATA)
                .writeInt(key.group()).writeLong(key.sequence()).writeInt(key.tag());
        if (n == 0) return header;
        return Unpooled.wrappedBuffer(header, Unpooled.wrappedBuffer(payload)); // wrappedBuffer slices: caller's position untouched
    }

    /** Reads the key of a data frame whose type byte was consumed; leaves the reader at the payload. */
    static MessageKey readKey(ByteBuf frame) {
        return new MessageKey(frame.readInt(), frame.readLong(), frame.readInt());
    }

    static ByteBuf control(ByteBufAllocator alloc, byte[] body) {
        ByteBuf b = alloc.buffer(LENGTH_BYTES + 1 + body.length);
        return b.writeInt(1 + body.length).writeByte(CONTROL).writeBytes(body);
    }
}
