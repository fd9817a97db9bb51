package io.megalith.parallel.transport;

import java.nio.ByteBuffer;

/** A received message; {@link #close()} releases its memory (e.g. a pooled Netty buffer). */
public interface Message extends AutoCloseable {
    /** The payload, little-endian, from position to limit; valid until {@link #close()}. */
    ByteBuffer payload();

    @Override
    void close();
}
