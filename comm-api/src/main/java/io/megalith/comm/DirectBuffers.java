package io.megalith.comm;

import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Native (direct) buffers that are freed when their use ends, not when a garbage collection happens to run.
 *
 * <p>Why: a direct {@link ByteBuffer} releases its native memory only when the collector finds it unreachable. A
 * training step that allocates a few hundred MiB of direct buffers and drops them leaves the Java heap almost empty,
 * so no collection runs, and process memory grows by that much every step until {@code -XX:MaxDirectMemorySize}
 * forces one. Hot paths reuse a scratch buffer (trainer-core's {@code ScratchBuffer}); the rest call {@link #free} in a {@code finally}.
 */
public final class DirectBuffers {
    private static final sun.misc.Unsafe UNSAFE = unsafe();
    private static final long ADDRESS = addressOffset();

    private DirectBuffers() {}

    /** A little-endian direct buffer of {@code bytes} bytes; its contents are zero. */
    public static ByteBuffer allocate(long bytes) {
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("direct buffer of " + bytes + " bytes: over 2 GiB");
        }
        return ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A little-endian direct buffer for {@code n} float32 values. */
    public static ByteBuffer floats(long n) {
        return allocate(4 * n);
    }

    /**
     * Frees {@code buffer}'s native memory now. The buffer (and every slice or duplicate of it) must not be used
     * afterwards. Null is ignored; it must be a buffer returned by an allocation, not a slice of one.
     */
    public static void free(ByteBuffer buffer) {
        if (buffer != null && buffer.isDirect()) {
            UNSAFE.invokeCleaner(buffer);
        }
    }

    /** The native address of a direct buffer's first element (at index 0, not its position). */
    public static long address(Buffer direct) {
        if (!direct.isDirect()) {
            throw new IllegalArgumentException("not a direct buffer");
        }
        return UNSAFE.getLong(direct, ADDRESS);
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static long addressOffset() {
        try {
            return UNSAFE.objectFieldOffset(Buffer.class.getDeclaredField("address"));
        } catch (NoSuchFieldException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
