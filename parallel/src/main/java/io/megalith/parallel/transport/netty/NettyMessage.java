package io.megalith.parallel.transport.netty;

import io.megalith.parallel.transport.Message;
import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;

/** A received payload still in Netty's (direct) buffer; {@link #close()} gives the buffer back. */
final class NettyMessage implements Message {
    private final ByteBuf buf;
    private final ByteBuffer view;
    private final AtomicBoolean closed = new AtomicBoolean();

    NettyMessage(ByteBuf buf) {
        this.buf = buf;
        // a view, not a copy: frames are single-component (a slice of a read or an exact-size buffer)
        this.view = buf.nioBuffer(buf.readerIndex(), buf.readableBytes());
    }

    /** A new little-endian view of the payload each call, so readers do not share a position. */
    @Override
    public ByteBuffer payload() {
        if (closed.get()) throw new IllegalStateException("message already closed");
        return view.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) buf.release();
    }
}
