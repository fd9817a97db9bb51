package io.megalith.core.tensor;

import io.megalith.comm.DirectBuffers;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One direct buffer reused for a temporary that every step needs (a gradient bucket staged for a reduce-scatter, a
 * reduce-scatter's output): it grows to the largest size asked for and stays, so a step allocates nothing. Not
 * thread-safe; a view it returned is valid until the next {@link #floats} or {@link #close}.
 */
public final class ScratchBuffer implements AutoCloseable {
    private ByteBuffer buffer;

    /** A zero-based view of {@code n} floats (contents undefined: the caller overwrites them). */
    public ByteBuffer floats(long n) {
        long bytes = 4 * n;
        if (buffer == null || buffer.capacity() < bytes) {
            DirectBuffers.free(buffer);
            buffer = null; // not left pointing at freed memory if the allocation fails
            buffer = DirectBuffers.allocate(bytes);
        }
        return buffer.duplicate().position(0).limit((int) bytes).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Bytes held. */
    public long capacity() {
        return buffer == null ? 0 : buffer.capacity();
    }

    @Override
    public void close() {
        DirectBuffers.free(buffer);
        buffer = null;
    }
}
