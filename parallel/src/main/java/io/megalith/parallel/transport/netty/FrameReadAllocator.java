package io.megalith.parallel.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * Makes the channel read the rest of a large frame straight into that frame's buffer (see
 * {@link FrameDecoder#readTarget()}), so a big payload goes from the socket to its final buffer with no
 * copy in user space. Otherwise behaves exactly like the channel's own allocator.
 */
@SuppressWarnings("deprecation") // RecvByteBufAllocator.newHandle() still returns the deprecated Handle type
final class FrameReadAllocator implements RecvByteBufAllocator {
    private final RecvByteBufAllocator delegate;
    private final FrameDecoder decoder;

    FrameReadAllocator(RecvByteBufAllocator delegate, FrameDecoder decoder) {
        this.delegate = delegate;
        this.decoder = decoder;
    }

    @Override
    public Handle newHandle() {
        return new FrameHandle(delegate.newHandle());
    }

    // The epoll channel insists on an ExtendedHandle, hence the full delegation.
    private final class FrameHandle implements ExtendedHandle {
        private final Handle h;

        FrameHandle(Handle h) {
            this.h = h;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            ByteBuf target = decoder.readTarget();
            return target != null ? target : h.allocate(alloc);
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return h instanceof ExtendedHandle e ? e.continueReading(maybeMoreDataSupplier) : h.continueReading();
        }

        @Override
        public int guess() {
            return h.guess();
        }

        @Override
        public void reset(ChannelConfig config) {
            h.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            h.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            h.lastBytesRead(bytes);
        }

        @Override
        public int lastBytesRead() {
            return h.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            h.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return h.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return h.continueReading();
        }

        @Override
        public void readComplete() {
            h.readComplete();
        }
    }
}
