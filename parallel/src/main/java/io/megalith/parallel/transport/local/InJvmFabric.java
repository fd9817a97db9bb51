package io.megalith.parallel.transport.local;

import io.megalith.parallel.transport.Transport;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

/**
 * N ranks in one JVM: creates one {@link InJvmTransport} per rank and connects them through mailboxes.
 * Failures are injected with {@link #kill(int)} (the rank dies: its peers' pending and later receives
 * from it fail naming it) or {@link #killAfterSends(int, int)} (it dies in the middle of an operation).
 * Counts messages that were received but not released, so tests can check collectives release them.
 */
public final class InJvmFabric implements AutoCloseable {
    private final InJvmTransport[] transports;
    /** 1 while the rank is alive, 0 once killed or closed. */
    private final AtomicIntegerArray alive;
    /** Sends each rank may still make before it dies; negative means unlimited. */
    private final AtomicIntegerArray sendsLeft;
    private final AtomicLong unreleased = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong bytesSent = new AtomicLong();

    public InJvmFabric(int worldSize) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("world size " + worldSize);
        }
        transports = new InJvmTransport[worldSize];
        alive = new AtomicIntegerArray(worldSize);
        sendsLeft = new AtomicIntegerArray(worldSize);
        for (int r = 0; r < worldSize; r++) {
            transports[r] = new InJvmTransport(this, r);
            alive.set(r, 1);
            sendsLeft.set(r, -1);
        }
    }

    public int worldSize() {
        return transports.length;
    }

    public InJvmTransport transport(int rank) {
        return transports[rank];
    }

    /** The transports of all ranks, indexed by rank. */
    public List<Transport> transports() {
        return List.of(transports);
    }

    public boolean isAlive(int rank) {
        return alive.get(rank) == 1;
    }

    /**
     * Rank {@code rank} dies: every pending and later receive from it, and send to it, fails with a
     * CommException naming it; its own pending receives fail too. Messages it delivered before dying
     * can still be received, as bytes that reached a socket before it closed can still be read.
     */
    public void kill(int rank) {
        if (!alive.compareAndSet(rank, 1, 0)) {
            return;
        }
        for (InJvmTransport t : transports) {
            t.peerDied(rank);
        }
    }

    /** Rank {@code rank} dies when it attempts its ({@code sends}+1)-th send from now on. */
    public void killAfterSends(int rank, int sends) {
        sendsLeft.set(rank, sends);
    }

    /** Messages delivered into a mailbox and not yet released with {@code Message.close()}. */
    public long unreleasedMessages() {
        return unreleased.get();
    }

    /** Messages sent since the fabric was created. */
    public long messagesSent() {
        return sent.get();
    }

    /** Payload bytes sent since the fabric was created. */
    public long bytesSent() {
        return bytesSent.get();
    }

    /** False if {@code rank} must die instead of making this send. */
    boolean takeSend(int rank) {
        while (true) {
            int left = sendsLeft.get(rank);
            if (left < 0) {
                return true;
            }
            if (left == 0) {
                return false;
            }
            if (sendsLeft.compareAndSet(rank, left, left - 1)) {
                return true;
            }
        }
    }

    void messageCreated(int bytes) {
        unreleased.incrementAndGet();
        sent.incrementAndGet();
        bytesSent.addAndGet(bytes);
    }

    void messageReleased() {
        unreleased.decrementAndGet();
    }

    @Override
    public void close() {
        for (int r = 0; r < transports.length; r++) {
            kill(r);
        }
    }
}
