package io.megalith.parallel.transport;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * Moves byte messages between the ranks of one job, addressed by (peer, {@link MessageKey}).
 * Collectives are built on it; implementations: Netty sockets between processes, and an in-JVM
 * fabric for fast unit tests.
 *
 * <p>Failure contract: once a peer is known dead (its connection closed or failed), every pending and
 * later {@link #receive} from it and {@link #send} to it fails with a
 * {@link io.megalith.comm.CommException} whose {@code peer()} is that rank; a receive that is not
 * satisfied by its deadline fails with {@link io.megalith.comm.CommTimeoutException}.
 */
public interface Transport extends AutoCloseable {
    int rank();

    int worldSize();

    /**
     * Sends {@code payload} (position to limit) to {@code peer}. The bytes may be read after this returns:
     * the caller must not modify them until the future completes. Sending to oneself is allowed.
     */
    CompletableFuture<Void> send(int peer, MessageKey key, ByteBuffer payload);

    /**
     * Waits for the message with {@code key} from {@code peer} until {@code deadlineNanos} (a
     * {@link System#nanoTime()} value). Messages may arrive before they are asked for.
     */
    Message receive(int peer, MessageKey key, long deadlineNanos);

    /** False once the peer is known to have failed or disconnected. */
    boolean isAlive(int peer);

    /** Closes all connections; peers see this rank as failed. */
    @Override
    void close();
}
