package io.megalith.parallel.collective;

import io.megalith.comm.CommException;
import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.Handle;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.Transport;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A process group over a {@link Transport}: the ranks {@code globalRanks} of the job, this rank being
 * the one whose global rank is {@code transport.rank()}.
 *
 * <p>Threading: collectives run one at a time in issue order, each under the next sequence number of
 * the group, all its messages keyed {@code MessageKey(groupId, seq, tag)}. Async variants queue the
 * operation on the communicator's thread and return at once. A blocking call whose group has nothing
 * queued or running runs the operation on the caller's own thread instead (else it queues and awaits):
 * that saves two thread hand-offs (caller to communicator thread and back), most of a small
 * all-reduce's latency on a busy machine. Interrupting a thread that runs an operation fails that
 * operation (and so the group). Different communicators run concurrently without ever taking each
 * other's messages, and since every rank issues a group's collectives in the same order, the same seq
 * means the same operation everywhere.
 *
 * <p>Point-to-point send/recv are not collectives and do not take a sequence number: the k-th send to
 * peer p with tag t matches p's k-th recv from us with tag t (key seq = -(k+1), so never a collective's).
 * They bypass the queue: a send starts at once on the caller's thread (transport sends never block) and a
 * receive waits on a receiver thread, so the usual exchange {@code recvAsync(a); sendAsync(b)} on both
 * sides cannot deadlock behind a blocked receive.
 *
 * <p>Algorithms: all-reduce takes the latency path ({@link DirectCollectives}) up to
 * {@code options.smallMessageBytes()}, the pipelined {@link RingAllReduce} above ({@link Bf16AllReduce}
 * for F32 when {@code options.bf16Wire()}); likewise reduce-scatter
 * and all-gather; {@link Broadcast}, {@link AllToAll}, {@link Barrier}. AVG on integer types is the sum
 * divided by the group size with Java's integer division (rounded toward zero); integer sums wrap.
 *
 * <p>Failures: every wait uses the operation's deadline ({@code options.deadline()}, counted from when
 * the operation starts running). Any failure completes the operation with a {@link CommException} naming
 * the operation, the group, the sequence number and the peer's global rank, and poisons the communicator:
 * later operations fail at once, naming the first failure. After a failure the contents of the buffers of
 * the failed operation are undefined.
 */
public final class GroupCommunicator implements Communicator {
    private final Transport transport;
    private final int groupId;
    private final String name;
    private final int[] globalRanks;
    private final int rank;
    private final CommOptions options;
    /** Runs queued operations ({@link #drain}); one thread. */
    private final ExecutorService queue;
    private final ExecutorService receivers;
    /** Operations issued but not started, in seq order. Guarded by this. */
    private final ArrayDeque<OpTask<?>> pending = new ArrayDeque<>();
    /** An operation runs (on the queue's thread or a caller's) or a drain is scheduled. Guarded by this. */
    private boolean busy;
    private final Reducer reducer = new Reducer();
    private final Map<Long, Long> sendCounts = new HashMap<>();
    private final Map<Long, Long> recvCounts = new HashMap<>();
    private long nextSeq;
    private volatile CommException failure;
    private volatile boolean closed;

    /**
     * @param groupId identifies the group in message keys: the same on all its members, distinct per group
     * @param globalRanks global rank of each group rank; must contain {@code transport.rank()}
     */
    public GroupCommunicator(Transport transport, int groupId, String name, int[] globalRanks, CommOptions options) {
        this.transport = transport;
        this.groupId = groupId;
        this.name = name;
        this.globalRanks = globalRanks.clone();
        this.options = options;
        if (Arrays.stream(globalRanks).distinct().count() != globalRanks.length
                || Arrays.stream(globalRanks).anyMatch(g -> g < 0 || g >= transport.worldSize())) {
            throw new IllegalArgumentException("group " + name + ": bad ranks " + Arrays.toString(globalRanks)
                    + " for a world of " + transport.worldSize());
        }
        int me = -1;
        for (int i = 0; i < globalRanks.length; i++) {
            if (globalRanks[i] == transport.rank()) {
                me = i;
            }
        }
        if (me < 0) {
            throw new IllegalArgumentException("group " + name + " " + Arrays.toString(globalRanks)
                    + " does not contain this rank " + transport.rank());
        }
        this.rank = me;
        this.queue = Executors.newSingleThreadExecutor(daemon("comm-" + name + "-r" + transport.rank()));
        this.receivers = Executors.newCachedThreadPool(daemon("comm-" + name + "-r" + transport.rank() + "-recv"));
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return globalRanks.length;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int globalRank(int groupRank) {
        checkPeer(groupRank, "group rank");
        return globalRanks[groupRank];
    }

    int groupId() {
        return groupId;
    }

    Transport transport() {
        return transport;
    }

    CommOptions options() {
        return options;
    }

    @Override
    public void allReduce(ByteBuffer buf, ElementType type, ReduceOp op) {
        CommHandle.join(allReduce(buf, type, op, true));
    }

    @Override
    public Handle allReduceAsync(ByteBuffer buf, ElementType type, ReduceOp op) {
        return new CommHandle(allReduce(buf, type, op, false));
    }

    private CompletableFuture<Void> allReduce(ByteBuffer buf, ElementType type, ReduceOp op, boolean blocking) {
        long count = elements(buf, type, "all_reduce");
        return submit("all_reduce", blocking, ctx -> {
            if (size() > 1 && count > 0) {
                boolean bf16 = options.bf16Wire() && type == ElementType.F32;
                if (bf16 && buf.remaining() <= options.smallMessageBytes()) {
                    Bf16AllReduce.direct(ctx, buf, op);
                } else if (bf16) {
                    Bf16AllReduce.ring(ctx, buf, op);
                } else if (buf.remaining() <= options.smallMessageBytes()) {
                    DirectCollectives.allReduce(ctx, buf, type, op);
                } else {
                    RingAllReduce.run(ctx, buf, type, op);
                }
            }
            return null;
        });
    }

    @Override
    public void reduceScatter(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op) {
        CommHandle.join(reduceScatter(input, output, type, op, true));
    }

    @Override
    public Handle reduceScatterAsync(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op) {
        return new CommHandle(reduceScatter(input, output, type, op, false));
    }

    private CompletableFuture<Void> reduceScatter(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op,
            boolean blocking) {
        Segments seg = new Segments(elements(input, type, "reduce_scatter"), size(), type.bytes, options.chunkBytes());
        checkBytes(output, seg.length(rank) * type.bytes, "reduce_scatter output");
        return submit("reduce_scatter", blocking, ctx -> {
            if (size() == 1) {
                Reducer.copy(output, input);
            } else if (seg.count > 0) {
                if (input.remaining() <= options.smallMessageBytes()) {
                    DirectCollectives.reduceScatter(ctx, seg, input, output, type, op);
                } else {
                    RingReduceScatter.run(ctx, seg, input, output, type, op, false);
                }
            }
            return null;
        });
    }

    @Override
    public void allGather(ByteBuffer input, ByteBuffer output, ElementType type) {
        CommHandle.join(allGather(input, output, type, true));
    }

    @Override
    public Handle allGatherAsync(ByteBuffer input, ByteBuffer output, ElementType type) {
        return new CommHandle(allGather(input, output, type, false));
    }

    private CompletableFuture<Void> allGather(ByteBuffer input, ByteBuffer output, ElementType type, boolean blocking) {
        Segments seg = new Segments(elements(output, type, "all_gather"), size(), type.bytes, options.chunkBytes());
        checkBytes(input, seg.length(rank) * type.bytes, "all_gather input");
        return submit("all_gather", blocking, ctx -> {
            if (size() == 1) {
                Reducer.copy(output, input);
            } else if (seg.count > 0) {
                if (output.remaining() <= options.smallMessageBytes()) {
                    DirectCollectives.allGather(ctx, seg, input, output);
                } else {
                    Reducer.copy(seg.segment(output, rank), input);
                    RingAllGather.run(ctx, seg, output, 0, false);
                }
            }
            return null;
        });
    }

    @Override
    public void broadcast(ByteBuffer buf, int root) {
        CommHandle.join(broadcast(buf, root, true));
    }

    @Override
    public Handle broadcastAsync(ByteBuffer buf, int root) {
        return new CommHandle(broadcast(buf, root, false));
    }

    private CompletableFuture<Void> broadcast(ByteBuffer buf, int root, boolean blocking) {
        checkPeer(root, "root");
        return submit("broadcast", blocking, ctx -> {
            if (size() > 1 && buf.hasRemaining()) {
                Broadcast.run(ctx, buf, root);
            }
            return null;
        });
    }

    @Override
    public ByteBuffer[] allToAll(ByteBuffer[] send) {
        if (send.length != size()) {
            throw new IllegalArgumentException("all_to_all on " + name + ": " + send.length + " parts for "
                    + size() + " ranks");
        }
        return CommHandle.join(submit("all_to_all", true, ctx -> AllToAll.run(ctx, send)));
    }

    @Override
    public void barrier() {
        CommHandle.join(submit("barrier", true, ctx -> {
            Barrier.run(ctx);
            return null;
        }));
    }

    @Override
    public void send(ByteBuffer buf, int peer, int tag) {
        sendAsync(buf, peer, tag).await();
    }

    @Override
    public Handle sendAsync(ByteBuffer buf, int peer, int tag) {
        checkPeer(peer, "peer");
        OpContext ctx = pointToPoint("send", sendCounts, peer, tag);
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (!failIfBroken(ctx, done)) {
            try {
                ctx.send(peer, tag, buf.duplicate())
                        .copy()
                        .orTimeout(options.deadline().toNanos(), TimeUnit.NANOSECONDS)
                        .whenComplete((v, e) -> finish(ctx, done, e, peer));
            } catch (CommException e) {
                finish(ctx, done, e, peer);
            }
        }
        return new CommHandle(done);
    }

    @Override
    public void recv(ByteBuffer buf, int peer, int tag) {
        recvAsync(buf, peer, tag).await();
    }

    @Override
    public Handle recvAsync(ByteBuffer buf, int peer, int tag) {
        checkPeer(peer, "peer");
        OpContext ctx = pointToPoint("recv", recvCounts, peer, tag);
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (!failIfBroken(ctx, done)) {
            receivers.execute(() -> {
                try (Message m = ctx.recv(peer, tag, buf.remaining())) {
                    Reducer.copy(buf, m.payload());
                } catch (RuntimeException e) {
                    finish(ctx, done, e, peer);
                    return;
                }
                done.complete(null); // after the message is released: a caller that awaits finds it freed
            });
        }
        return new CommHandle(done);
    }

    /**
     * Stops this communicator's threads and fails its queued operations; the transport stays open. An
     * operation already running on a caller's thread ends as it would have (done, failed or timed out).
     */
    @Override
    public void close() {
        List<OpTask<?>> dropped;
        synchronized (this) {
            closed = true;
            dropped = new ArrayList<>(pending);
            pending.clear();
        }
        CommException e = new CommException("group " + name + " closed", -1);
        for (OpTask<?> t : dropped) {
            t.result.completeExceptionally(e);
        }
        queue.shutdownNow();
        receivers.shutdownNow();
    }

    /**
     * Issues {@code body} as the group's next operation: runs it here and now if {@code blocking} and the
     * group is idle, else queues it for the communicator's thread. Operations start in seq order either
     * way: one starts only when the one before it has ended and nothing older waits.
     */
    private <T> CompletableFuture<T> submit(String op, boolean blocking, Function<OpContext, T> body) {
        OpTask<T> task;
        synchronized (this) {
            long seq = nextSeq++;
            task = new OpTask<>(op, seq, body);
            if (closed) {
                task.result.completeExceptionally(new CommException(op + " on group " + name + " (seq " + seq
                        + "): group closed", -1));
                return task.result;
            }
            // an interrupted caller queues: the operation then waits uninterruptibly, as before
            boolean inline = blocking && !busy && !Thread.currentThread().isInterrupted();
            if (!inline) {
                pending.add(task);
                if (!busy) {
                    busy = true;
                    schedule();
                }
                return task.result;
            }
            busy = true;
        }
        try {
            task.run();
        } finally {
            synchronized (this) {
                if (pending.isEmpty()) {
                    busy = false;
                } else {
                    schedule(); // async operations issued meanwhile (by other threads) go on there
                }
            }
        }
        return task.result;
    }

    /** Has the queue's thread run the pending operations. Called holding the lock, with busy set. */
    private void schedule() {
        try {
            queue.execute(this::drain);
        } catch (RejectedExecutionException e) { // closed: close() failed whatever was pending
            busy = false;
        }
    }

    /** On the queue's thread: runs pending operations until none is left. */
    private void drain() {
        while (true) {
            OpTask<?> task;
            synchronized (this) {
                task = pending.poll();
                if (task == null) {
                    busy = false;
                    return;
                }
            }
            task.run();
        }
    }

    /** One collective; runs on the communicator's thread, or inline on the thread of a blocking call. */
    private final class OpTask<T> implements Runnable {
        final CompletableFuture<T> result = new CompletableFuture<>();
        private final String op;
        private final long seq;
        private final Function<OpContext, T> body;

        OpTask(String op, long seq, Function<OpContext, T> body) {
            this.op = op;
            this.seq = seq;
            this.body = body;
        }

        @Override
        public void run() {
            OpContext ctx = new OpContext(GroupCommunicator.this, reducer, op, seq, "seq " + seq);
            if (failIfBroken(ctx, result)) {
                return;
            }
            try {
                T value = body.apply(ctx);
                ctx.awaitSends();
                result.complete(value);
            } catch (RuntimeException | Error e) { // an Error too: the caller must not wait forever
                finish(ctx, result, e, -1);
            }
        }
    }

    private synchronized OpContext pointToPoint(String op, Map<Long, Long> counts, int peer, int tag) {
        long k = counts.merge(((long) peer << 32) | (tag & 0xffffffffL), 1L, Long::sum) - 1;
        return new OpContext(this, null, op, -(k + 1), "tag " + tag + " #" + k);
    }

    /** Completes {@code f}: normally if {@code e} is null, else with {@code e} as a CommException, poisoning the group. */
    private void finish(OpContext ctx, CompletableFuture<?> f, Throwable e, int peer) {
        if (e == null) {
            f.complete(null);
            return;
        }
        CommException ce = e instanceof CommException c && String.valueOf(c.getMessage()).startsWith(ctx.prefix())
                ? c : ctx.failure(e, peer);
        if (failure == null) {
            synchronized (this) {
                if (failure == null) {
                    failure = ce;
                }
            }
        }
        f.completeExceptionally(ce);
    }

    /** Fails {@code f} at once if the group already failed or was closed; returns whether it did. */
    private boolean failIfBroken(OpContext ctx, CompletableFuture<?> f) {
        CommException first = failure;
        if (first != null) {
            f.completeExceptionally(new CommException(ctx.prefix() + ": group failed earlier: " + first.getMessage(),
                    first.peer(), first));
            return true;
        }
        if (closed) {
            f.completeExceptionally(new CommException(ctx.prefix() + ": group closed", -1));
            return true;
        }
        return false;
    }

    private long elements(ByteBuffer buf, ElementType type, String op) {
        if (buf.remaining() % type.bytes != 0) {
            throw new IllegalArgumentException(op + " on " + name + ": " + buf.remaining() + " bytes is not a whole number of "
                    + type);
        }
        return buf.remaining() / type.bytes;
    }

    private void checkBytes(ByteBuffer buf, long bytes, String what) {
        if (buf.remaining() != bytes) {
            throw new IllegalArgumentException(what + " on " + name + " rank " + rank + ": " + buf.remaining()
                    + " bytes, expected " + bytes);
        }
    }

    private void checkPeer(int r, String what) {
        if (r < 0 || r >= size()) {
            throw new IllegalArgumentException(what + " " + r + " outside group " + name + " of size " + size());
        }
    }

    private static ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
