package io.megalith.core.testing;

import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.Handle;
import io.megalith.comm.ReduceOp;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A communicator that counts the bytes this rank hands to all-reduce, reduce-scatter and all-gather (the input
 * sizes, not the wire traffic of an algorithm) and otherwise delegates: how tests see what a trainer communicates.
 */
public final class CountingCommunicator implements Communicator {
    private final Communicator inner;
    public final AtomicLong allReduceBytes = new AtomicLong();
    public final AtomicLong reduceScatterBytes = new AtomicLong();
    public final AtomicLong allGatherBytes = new AtomicLong();

    public CountingCommunicator(Communicator inner) {
        this.inner = inner;
    }

    @Override
    public int rank() {
        return inner.rank();
    }

    @Override
    public int size() {
        return inner.size();
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public int globalRank(int groupRank) {
        return inner.globalRank(groupRank);
    }

    @Override
    public Handle allReduceAsync(ByteBuffer buf, ElementType type, ReduceOp op) {
        allReduceBytes.addAndGet(buf.remaining());
        return inner.allReduceAsync(buf, type, op);
    }

    @Override
    public Handle reduceScatterAsync(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op) {
        reduceScatterBytes.addAndGet(input.remaining());
        return inner.reduceScatterAsync(input, output, type, op);
    }

    @Override
    public Handle allGatherAsync(ByteBuffer input, ByteBuffer output, ElementType type) {
        allGatherBytes.addAndGet(input.remaining());
        return inner.allGatherAsync(input, output, type);
    }

    @Override
    public Handle broadcastAsync(ByteBuffer buf, int root) {
        return inner.broadcastAsync(buf, root);
    }

    @Override
    public ByteBuffer[] allToAll(ByteBuffer[] send) {
        return inner.allToAll(send);
    }

    @Override
    public void send(ByteBuffer buf, int peer, int tag) {
        inner.send(buf, peer, tag);
    }

    @Override
    public Handle sendAsync(ByteBuffer buf, int peer, int tag) {
        return inner.sendAsync(buf, peer, tag);
    }

    @Override
    public void recv(ByteBuffer buf, int peer, int tag) {
        inner.recv(buf, peer, tag);
    }

    @Override
    public Handle recvAsync(ByteBuffer buf, int peer, int tag) {
        return inner.recvAsync(buf, peer, tag);
    }

    @Override
    public void barrier() {
        inner.barrier();
    }

    @Override
    public long partStart(long n, int r) {
        return inner.partStart(n, r);
    }

    @Override
    public void close() {} // the owner of the inner communicator closes it
}
