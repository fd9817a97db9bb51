package io.megalith.parallel.collective;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

/**
 * One running operation of a {@link GroupCommunicator}: sends and receives by group rank under the
 * operation's keys {@code MessageKey(group, seq, tag)} and deadline, remembers its sends so it can wait
 * for them before handing the caller's buffers back, and turns any failure into a {@link CommException}
 * naming the operation, the group, the sequence number and the peer's global rank.
 */
final class OpContext {
    private record PendingSend(CompletableFuture<Void> future, int peer) {}

    final GroupCommunicator comm;
    final Reducer reducer;
    private final String op;
    private final long seq;
    private final String where;
    private final long deadlineNanos;
    private final List<PendingSend> sends = new ArrayList<>();

    OpContext(GroupCommunicator comm, Reducer reducer, String op, long seq, String where) {
        this.comm = comm;
        this.reducer = reducer;
        this.op = op;
        this.seq = seq;
        this.where = where;
        this.deadlineNanos = System.nanoTime() + comm.options().deadline().toNanos();
    }

    int rank() {
        return comm.rank();
    }

    int size() {
        return comm.size();
    }

    int chunkBytes() {
        return comm.options().chunkBytes();
    }

    int smallMessageBytes() {
        return comm.options().smallMessageBytes();
    }

    /** Starts sending {@code region} to group rank {@code peer}; the region must stay untouched until {@link #awaitSends}. */
    CompletableFuture<Void> send(int peer, int tag, ByteBuffer region) {
        try {
            CompletableFuture<Void> f = comm.transport().send(comm.globalRank(peer), key(tag), region);
            sends.add(new PendingSend(f, peer));
            return f;
        } catch (RuntimeException e) {
            throw failure(e, peer);
        }
    }

    /** Sends the payload of {@code m} onward and releases {@code m} once the send is done. */
    void forward(int peer, int tag, ByteBuffer payload, Message m) {
        CompletableFuture<Void> f;
        try {
            f = send(peer, tag, payload);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        f.whenComplete((v, e) -> m.close());
    }

    /** Receives the message {@code tag} from group rank {@code peer}; checks its size unless {@code bytes} < 0. */
    Message recv(int peer, int tag, int bytes) {
        Message m;
        try {
            m = comm.transport().receive(comm.globalRank(peer), key(tag), deadlineNanos);
        } catch (RuntimeException e) {
            throw failure(e, peer);
        }
        if (bytes >= 0 && m.payload().remaining() != bytes) {
            int got = m.payload().remaining();
            m.close();
            throw new CommException(prefix() + ": rank " + comm.globalRank(peer) + " sent " + got
                    + " bytes where " + bytes + " were expected (do all ranks pass the same sizes?)",
                    comm.globalRank(peer));
        }
        return m;
    }

    /** Waits until every send of this operation is done, so the caller's buffers are free again. */
    void awaitSends() {
        awaitFirstSends(sends.size());
        sends.clear();
    }

    /** Waits until the first {@code count} sends of this operation (in issue order) are done. */
    void awaitFirstSends(int count) {
        for (PendingSend s : sends.subList(0, Math.min(count, sends.size()))) {
            try {
                s.future().get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                int g = comm.globalRank(s.peer());
                throw new CommTimeoutException(prefix() + ": send to rank " + g + " not done within "
                        + comm.options().deadline().toMillis() + " ms", g);
            } catch (ExecutionException e) {
                throw failure(e.getCause(), s.peer());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw failure(e, s.peer());
            }
        }
    }

    /** "all_reduce on group dp[0,2] (seq 17)". */
    String prefix() {
        return op + " on group " + comm.name() + " (" + where + ")";
    }

    /**
     * Wraps {@code t}, met while talking to group rank {@code peer} (-1: none in particular), into a
     * CommException that names the operation, group, sequence number and peer, keeping {@code t} as cause
     * (for a timeout, whose exception type takes no cause, as suppressed exception).
     */
    CommException failure(Throwable t, int peer) {
        if (t instanceof CompletionException || t instanceof ExecutionException) {
            t = t.getCause() != null ? t.getCause() : t;
        }
        int global = peer >= 0 ? comm.globalRank(peer) : -1;
        if (t instanceof TimeoutException) {
            return new CommTimeoutException(prefix() + ": rank " + global + " did not answer within "
                    + comm.options().deadline().toMillis() + " ms", global);
        }
        if (t instanceof CommTimeoutException te) {
            int p = te.peer() >= 0 ? te.peer() : global;
            CommTimeoutException e = new CommTimeoutException(prefix() + ": rank " + p + " did not answer within "
                    + comm.options().deadline().toMillis() + " ms", p);
            e.addSuppressed(te);
            return e;
        }
        if (t instanceof CommException ce) {
            int p = ce.peer() >= 0 ? ce.peer() : global;
            String m = String.valueOf(ce.getMessage());
            String detail = p < 0 || Pattern.compile("\\brank " + p + "\\b").matcher(m).find() ? m : "rank " + p + ": " + m;
            return new CommException(prefix() + ": " + detail, p, ce);
        }
        if (t instanceof InterruptedException) {
            return new CommException(prefix() + ": interrupted" + (global >= 0 ? " waiting for rank " + global : ""),
                    global, t);
        }
        return new CommException(prefix() + ": " + t, global, t);
    }

    private MessageKey key(int tag) {
        return new MessageKey(comm.groupId(), seq, tag);
    }
}
