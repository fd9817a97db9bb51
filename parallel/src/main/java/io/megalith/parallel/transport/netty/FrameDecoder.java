package io.megalith.parallel.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;

/**
 * Splits the byte stream into frames (see {@link Frames}) and checks each length prefix against the
 * current limit as soon as its 4 bytes arrive (fail fast): a hostile prefix never makes this rank wait
 * for, or allocate, the bytes it announces. The limit is the small handshake limit until the peer is
 * {@link #authenticated()}.
 *
 * <p>Why not {@code LengthFieldBasedFrameDecoder}: its limit is fixed at construction (replacing it
 * mid-stream loses buffered bytes) and its cumulation buffer grows in 4 MiB steps, re-copying a 64 MiB
 * frame many times. Here a frame that lies inside one socket read is a zero-copy slice of it; a larger
 * one gets a direct buffer of exactly its size (from the {@link RecvBufferPool} from
 * {@link #DIRECT_READ_MIN_BYTES} up, so large frames reuse memory), and once it is started
 * {@link FrameReadAllocator} has the socket read the rest straight into it (see {@link #readTarget()}),
 * so big payloads are not copied.
 */
final class FrameDecoder extends ChannelInboundHandlerAdapter {
    private final int maxFrameBytes;
    private final RecvBufferPool pool;
    private int limit;
    private int prefixBytes; // how many bytes of the current length prefix were read
    private int prefix;
    private ByteBuf partial; // body of the frame being assembled, or null while reading a prefix
    private boolean failed;
    private ByteBuf target; // the slice of partial last handed out by readTarget(), until it comes back

    /** Below this many missing bytes, reading into a normal buffer and copying is just as good. */
    static final int DIRECT_READ_MIN_BYTES = 64 << 10;

    FrameDecoder(int handshakeMaxFrameBytes, int maxFrameBytes, RecvBufferPool pool) {
        this.limit = handshakeMaxFrameBytes;
        this.maxFrameBytes = maxFrameBytes;
        this.pool = pool;
    }

    /** Raises the limit to the data limit; called on the event loop, between two frames. */
    void authenticated() {
        limit = maxFrameBytes;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf in)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (in == target) { // the channel read straight into our frame: account for it, nothing to copy
            target = null;
            try {
                if (partial != null && !failed) {
                    partial.writerIndex(partial.writerIndex() + in.readableBytes());
                    if (!partial.isWritable()) {
                        ByteBuf frame = partial;
                        partial = null;
                        ctx.fireChannelRead(frame);
                    }
                }
            } finally {
                in.release();
            }
            return;
        }
        try {
            while (in.isReadable() && !failed && ctx.channel().isOpen()) {
                if (partial == null) {
                    if (!readPrefix(in)) return;
                    long length = prefix & 0xffffffffL;
                    if (length > limit) {
                        failed = true; // drop whatever else arrives until the channel is closed
                        throw new TooLongFrameException("frame of " + length + " bytes exceeds the limit of " + limit);
                    }
                    if (in.readableBytes() >= length) {
                        ctx.fireChannelRead(in.readRetainedSlice((int) length));
                        continue;
                    }
                    partial = length >= DIRECT_READ_MIN_BYTES
                            ? pool.allocate(ctx.alloc(), (int) length)
                            : ctx.alloc().directBuffer((int) length, (int) length);
                }
                partial.writeBytes(in, Math.min(in.readableBytes(), partial.writableBytes()));
                if (!partial.isWritable()) {
                    ByteBuf frame = partial;
                    partial = null;
                    ctx.fireChannelRead(frame);
                }
            }
        } finally {
            in.release();
        }
    }

    /**
     * The unfilled remainder of the frame being assembled, as an empty buffer for the channel to read
     * into, or null to let it use an ordinary buffer. Its capacity ends where the frame ends, so a read
     * never spills into the next frame. Called by the event loop before each read.
     */
    ByteBuf readTarget() {
        if (partial == null || failed || partial.writableBytes() < DIRECT_READ_MIN_BYTES) return null;
        target = partial.retainedSlice(partial.writerIndex(), partial.writableBytes()).clear();
        return target;
    }

    private boolean readPrefix(ByteBuf in) {
        while (prefixBytes < Frames.LENGTH_BYTES && in.isReadable()) {
            prefix = (prefix << 8) | in.readUnsignedByte();
            prefixBytes++;
        }
        if (prefixBytes < Frames.LENGTH_BYTES) return false;
        prefixBytes = 0;
        return true;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releasePartial();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releasePartial();
    }

    private void releasePartial() {
        if (partial != null) {
            partial.release();
            partial = null;
        }
    }
}
