package io.megalith.parallel.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledUnsafeDirectByteBuf;
import io.netty.util.internal.PlatformDependent;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Direct buffers for large incoming frames (the chunks of a ring), kept for reuse when their message is
 * released, up to {@code maxCachedBytes} per transport.
 *
 * <p>Why: a 64 MiB all-reduce receives 64 frames of 1 MiB per rank. Netty's allocators hand such sizes
 * out from memory they give back to the OS soon after (the default adaptive allocator does so for
 * every buffer above its size classes, the pooled one when a chunk empties), so each frame paid for
 * fresh pages: an mmap, a page fault per 4 KiB, zeroing by the kernel and again by the JDK. Profiled
 * (perf, 2 ranks, 64 MiB) that cost as much CPU as the socket copies themselves. Here a block is
 * allocated once, and a frame of a size seen before reuses one that is already mapped and warm.
 *
 * <p>Blocks are grouped by size rounded up to {@link #GRAIN}; a ring uses a handful of sizes (its chunk
 * size and the segments' last chunks). Thread-safe: frames are taken on the event loop and released by
 * whoever closes the message.
 */
final class RecvBufferPool {
    /** Size classes: multiples of this. */
    static final int GRAIN = 64 << 10;

    private final long maxCachedBytes;
    private final Map<Integer, ArrayDeque<ByteBuffer>> free = new HashMap<>(); // by capacity; guarded by this
    private long cachedBytes; // guarded by this
    private boolean closed; // guarded by this

    RecvBufferPool(long maxCachedBytes) {
        this.maxCachedBytes = maxCachedBytes;
    }

    /** An empty buffer of exactly {@code length} bytes capacity (it cannot grow); release it as usual. */
    ByteBuf allocate(ByteBufAllocator alloc, int length) {
        int capacity = Math.toIntExact((length + (long) GRAIN - 1) / GRAIN * GRAIN);
        ByteBuffer block = null;
        synchronized (this) {
            ArrayDeque<ByteBuffer> q = free.get(capacity);
            if (q != null && !q.isEmpty()) {
                block = q.pop(); // the most recently released: likeliest still in cache
                cachedBytes -= capacity;
            }
        }
        if (block == null) {
            block = ByteBuffer.allocateDirect(capacity);
        }
        return new Frame(alloc, block, length);
    }

    /** Cached bytes (for tests). */
    synchronized long cachedBytes() {
        return cachedBytes;
    }

    /** Frees the cached blocks; blocks released later are freed at once. */
    void close() {
        Map<Integer, ArrayDeque<ByteBuffer>> all;
        synchronized (this) {
            closed = true;
            all = new HashMap<>(free);
            free.clear();
            cachedBytes = 0;
        }
        all.values().forEach(q -> q.forEach(PlatformDependent::freeDirectBuffer));
    }

    private void giveBack(ByteBuffer block) {
        synchronized (this) {
            if (!closed && cachedBytes + block.capacity() <= maxCachedBytes) {
                free.computeIfAbsent(block.capacity(), c -> new ArrayDeque<>()).push(block);
                cachedBytes += block.capacity();
                return;
            }
        }
        PlatformDependent.freeDirectBuffer(block);
    }

    /** A frame buffer over a pooled block; when its last reference is released the block goes back. */
    private final class Frame extends UnpooledUnsafeDirectByteBuf {
        private final ByteBuffer block;

        Frame(ByteBufAllocator alloc, ByteBuffer block, int length) {
            // the wrapping constructor never frees the buffer itself; capacity = max capacity = length
            super(alloc, block.duplicate().clear().limit(length), length);
            this.block = block;
            clear(); // wrapping leaves the buffer "full": make it empty, ready to be written
        }

        @Override
        protected void deallocate() {
            super.deallocate();
            giveBack(block);
        }
    }
}
