package io.megalith.parallel.transport.local;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import io.megalith.parallel.transport.Transport;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One rank of an {@link InJvmFabric}. A send copies the payload into the receiver's mailbox at once (so
 * the sender's buffer is free and the returned future is already complete); a receive waits on the
 * mailbox slot of (peer, key). A slot is a future that whichever of send and receive comes first
 * creates, so messages may arrive before they are asked for.
 */
public final class InJvmTransport implements Transport {
    private record Slot(int peer, MessageKey key) {}

    private final InJvmFabric fabric;
    private final int rank;
    private final Map<Slot, CompletableFuture<Message>> mailbox = new ConcurrentHashMap<>();

    InJvmTransport(InJvmFabric fabric, int rank) {
        this.fabric = fabric;
        this.rank = rank;
    }

    /** The fabric this rank belongs to (for fault injection and message accounting). */
    public InJvmFabric fabric() {
        return fabric;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return fabric.worldSize();
    }

    @Override
    public CompletableFuture<Void> send(int peer, MessageKey key, ByteBuffer payload) {
        checkRank(peer);
        if (!fabric.isAlive(rank)) {
            return CompletableFuture.failedFuture(closed());
        }
        if (!fabric.takeSend(rank)) {
            fabric.kill(rank);
            return CompletableFuture.failedFuture(closed());
        }
        if (!fabric.isAlive(peer)) {
            return CompletableFuture.failedFuture(disconnected(peer));
        }
        ByteBuffer copy = ByteBuffer.allocate(payload.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        copy.put(payload.duplicate()).flip();
        fabric.transport(peer).deliver(rank, key, new InJvmMessage(copy, fabric));
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public Message receive(int peer, MessageKey key, long deadlineNanos) {
        checkRank(peer);
        if (!fabric.isAlive(rank)) {
            throw closed();
        }
        Slot slot = new Slot(peer, key);
        CompletableFuture<Message> f = mailbox.computeIfAbsent(slot, s -> new CompletableFuture<>());
        if (!fabric.isAlive(peer)) {
            f.completeExceptionally(disconnected(peer)); // no-op if the message arrived before the peer died
        }
        try {
            Message m = f.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            mailbox.remove(slot, f);
            return m;
        } catch (TimeoutException e) {
            // The slot stays: a late message lands in it and a retried receive still finds it.
            throw new CommTimeoutException("rank " + peer + " sent no message " + key + " to rank " + rank
                    + " before the deadline", peer);
        } catch (ExecutionException e) {
            mailbox.remove(slot, f);
            CommException cause = (CommException) e.getCause();
            throw new CommException(cause.getMessage(), cause.peer(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommException("rank " + rank + " interrupted waiting for rank " + peer, peer, e);
        }
    }

    @Override
    public boolean isAlive(int peer) {
        checkRank(peer);
        return fabric.isAlive(peer);
    }

    @Override
    public void close() {
        fabric.kill(rank);
    }

    /** A message from {@code peer} arrives. */
    void deliver(int peer, MessageKey key, InJvmMessage m) {
        if (!fabric.isAlive(rank)) {
            m.close(); // nobody will read it
            return;
        }
        CompletableFuture<Message> f = mailbox.computeIfAbsent(new Slot(peer, key), s -> new CompletableFuture<>());
        if (!f.complete(m)) {
            m.close();
            if (!f.isCompletedExceptionally()) {
                throw new IllegalStateException("rank " + peer + " sent " + key + " to rank " + rank + " twice");
            }
        }
    }

    /** Fails the receives that {@code dead} will never satisfy (all of them if this rank died). */
    void peerDied(int dead) {
        CommException e = dead == rank ? closed() : disconnected(dead);
        mailbox.forEach((slot, f) -> {
            if (dead == rank || slot.peer() == dead) {
                f.completeExceptionally(e);
            }
        });
    }

    private CommException disconnected(int peer) {
        return new CommException("rank " + peer + " disconnected", peer);
    }

    private CommException closed() {
        return new CommException("rank " + rank + " closed", rank);
    }

    private void checkRank(int peer) {
        if (peer < 0 || peer >= fabric.worldSize()) {
            throw new IllegalArgumentException("rank " + peer + " outside world of " + fabric.worldSize());
        }
    }
}
