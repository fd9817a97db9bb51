package io.megalith.parallel.transport.netty;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.parallel.transport.MessageKey;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Messages from one peer, matched to receivers by {@link MessageKey}. A message may arrive before or
 * after its receive; messages with the same key are matched in arrival order. Once {@link #fail failed},
 * messages that arrived before the failure can still be received (a peer that finished its last collective
 * and closed must not take back what it sent: TCP delivered it before the goodbye); every receive that would
 * have to wait throws. {@link #close} releases what is left.
 */
final class Mailbox {
    private final int owner;
    private final int peer;
    private final Map<MessageKey, ArrayDeque<ByteBuf>> arrived = new HashMap<>();
    private final Map<MessageKey, CompletableFuture<ByteBuf>> waiting = new HashMap<>();
    private String failure; // guarded by this; why the peer is gone
    private int blamed;
    private Throwable cause;

    Mailbox(int owner, int peer) {
        this.owner = owner;
        this.peer = peer;
    }

    /** Takes ownership of {@code payload}. */
    void deliver(MessageKey key, ByteBuf payload) {
        CompletableFuture<ByteBuf> w;
        synchronized (this) {
            if (failure != null) {
                payload.release();
                return;
            }
            w = waiting.remove(key);
            if (w == null) {
                arrived.computeIfAbsent(key, k -> new ArrayDeque<>(1)).add(payload);
                return;
            }
        }
        if (!w.complete(payload)) { // its receiver gave up a moment ago: keep it for a later receive
            synchronized (this) {
                if (failure != null) payload.release();
                else arrived.computeIfAbsent(key, k -> new ArrayDeque<>(1)).add(payload);
            }
        }
    }

    /** The payload of the next message with {@code key}; the caller owns (and releases) it. */
    ByteBuf receive(MessageKey key, long deadlineNanos) {
        CompletableFuture<ByteBuf> w;
        synchronized (this) {
            ByteBuf b = poll(key);
            if (b != null) return b;
            if (failure != null) throw failed("receive from");
            if (waiting.containsKey(key)) {
                throw new IllegalStateException("a receive from rank " + peer + " for " + key + " is already waiting");
            }
            w = new CompletableFuture<>();
            waiting.put(key, w);
        }
        long start = System.nanoTime();
        boolean interrupted = false;
        try {
            return w.get(Math.max(0, deadlineNanos - start), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw failed("receive from");
        } catch (TimeoutException | InterruptedException e) {
            interrupted = e instanceof InterruptedException;
            if (w.completeExceptionally(e)) { // nobody delivered in the meantime: give up the slot
                synchronized (this) {
                    waiting.remove(key, w);
                }
                if (interrupted) throw new CommException("rank " + owner + ": receive from rank " + peer + " interrupted", peer, e);
                long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                throw new CommTimeoutException("rank " + owner + ": no message from rank " + peer + " for " + key
                        + " before the deadline (waited " + waitedMs + " ms)", peer);
            }
            if (w.isCompletedExceptionally()) throw failed("receive from");
            return w.join(); // delivered just as the wait ended
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    synchronized boolean failed() {
        return failure != null;
    }

    /** The exception {@code op} ("send to", "receive from") gets once the peer is gone, or null while it is alive. */
    synchronized CommException failure(String op) {
        return failure == null ? null : failed(op);
    }

    /**
     * Marks the peer gone (first reason wins); fails pending receives, keeps messages that already arrived.
     * {@code blamed} is the rank that {@link CommException#peer()} reports (-1 when this rank itself closed).
     * Returns false if already failed.
     */
    boolean fail(String reason, int blamed, Throwable cause) {
        List<CompletableFuture<ByteBuf>> waiters;
        synchronized (this) {
            if (failure != null) return false;
            failure = reason;
            this.blamed = blamed;
            this.cause = cause;
            waiters = new ArrayList<>(waiting.values());
            waiting.clear();
        }
        for (CompletableFuture<ByteBuf> w : waiters) {
            w.completeExceptionally(new CommException(reason, blamed, cause));
        }
        return true;
    }

    /** This rank is closing: fails the mailbox (if the peer has not already) and releases buffered messages. */
    void close(String reason) {
        fail(reason, -1, null);
        List<ByteBuf> dropped = new ArrayList<>();
        synchronized (this) {
            arrived.values().forEach(dropped::addAll);
            arrived.clear();
        }
        dropped.forEach(ByteBuf::release);
    }

    /** Receives now waiting (for tests). */
    synchronized int waitingCount() {
        return waiting.size();
    }

    /** Messages that arrived and wait for their receive (for tests). */
    synchronized int bufferedCount() {
        int n = 0;
        for (ArrayDeque<ByteBuf> q : arrived.values()) n += q.size();
        return n;
    }

    private ByteBuf poll(MessageKey key) {
        ArrayDeque<ByteBuf> q = arrived.get(key);
        if (q == null) return null;
        ByteBuf b = q.poll();
        if (q.isEmpty()) arrived.remove(key);
        return b;
    }

    private synchronized CommException failed(String op) {
        // a fresh exception per call: its stack trace shows the caller that hit the failure
        // the failed peer first: it is what the operation's error must name
        return new CommException(failure + " (" + op + " rank " + peer + " from rank " + owner + ")", blamed, cause);
    }
}
