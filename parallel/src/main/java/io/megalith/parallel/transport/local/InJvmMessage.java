package io.megalith.parallel.transport.local;

import io.megalith.parallel.transport.Message;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

/** A message in an in-JVM mailbox; its payload may not be used after {@link #close()}. */
final class InJvmMessage implements Message {
    private final ByteBuffer payload;
    private final InJvmFabric fabric;
    private final AtomicBoolean released = new AtomicBoolean();

    InJvmMessage(ByteBuffer payload, InJvmFabric fabric) {
        this.payload = payload;
        this.fabric = fabric;
        fabric.messageCreated(payload.remaining());
    }

    @Override
    public ByteBuffer payload() {
        if (released.get()) {
            throw new IllegalStateException("message used after close()");
        }
        return payload;
    }

    @Override
    public void close() {
        if (released.compareAndSet(false, true)) {
            fabric.messageReleased();
        }
    }
}
