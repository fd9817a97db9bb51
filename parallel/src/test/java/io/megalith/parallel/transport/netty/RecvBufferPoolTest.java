package io.megalith.parallel.transport.netty;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import org.junit.jupiter.api.Test;

class RecvBufferPoolTest {
    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    @Test
    void framesHaveExactlyTheirLengthAndReuseReleasedBlocks() {
        RecvBufferPool pool = new RecvBufferPool(8 << 20);
        int length = (1 << 20) + 17;
        ByteBuf a = pool.allocate(ALLOC, length);
        assertThat(a.capacity()).isEqualTo(length);
        assertThat(a.maxCapacity()).isEqualTo(length);
        assertThat(a.readableBytes()).isZero();
        assertThat(a.writableBytes()).isEqualTo(length);
        a.writerIndex(length);
        a.setLong(length - 8, 0x0123456789abcdefL);
        long address = a.memoryAddress();

        ByteBuf slice = a.retainedSlice(5, 100); // as the decoder hands out read targets: shares the count
        a.release();
        assertThat(pool.cachedBytes()).as("a slice still holds the block").isZero();
        slice.release();
        long grain = RecvBufferPool.GRAIN;
        assertThat(pool.cachedBytes()).isEqualTo((length + grain - 1) / grain * grain);

        ByteBuf b = pool.allocate(ALLOC, length - 3); // same size class: the same block again
        assertThat(b.memoryAddress()).isEqualTo(address);
        assertThat(b.capacity()).isEqualTo(length - 3);
        assertThat(b.writerIndex()).isZero();
        assertThat(pool.cachedBytes()).isZero();
        b.release();
        pool.close();
        assertThat(pool.cachedBytes()).isZero();
    }

    @Test
    void keepsNoMoreThanItsLimitAndNothingAfterClose() {
        RecvBufferPool pool = new RecvBufferPool(2 * RecvBufferPool.GRAIN);
        ByteBuf[] bufs = new ByteBuf[3];
        for (int i = 0; i < bufs.length; i++) {
            bufs[i] = pool.allocate(ALLOC, RecvBufferPool.GRAIN);
        }
        for (ByteBuf b : bufs) {
            b.release();
        }
        assertThat(pool.cachedBytes()).isEqualTo(2L * RecvBufferPool.GRAIN);
        ByteBuf held = pool.allocate(ALLOC, 100);
        pool.close();
        assertThat(pool.cachedBytes()).isZero();
        held.release(); // freed, not kept
        assertThat(pool.cachedBytes()).isZero();
    }
}
