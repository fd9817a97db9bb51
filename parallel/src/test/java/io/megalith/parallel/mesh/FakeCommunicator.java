package io.megalith.parallel.mesh;

import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.Handle;
import io.megalith.comm.ReduceOp;
import java.nio.ByteBuffer;

/** A communicator that only knows its membership and counts closes; it cannot communicate. */
class FakeCommunicator implements Communicator {
    final int groupId;
    private final String name;
    private final int[] ranks;
    private final int rank;
    int closeCount;

    FakeCommunicator(int groupId, String name, int[] ranks, int rank) {
        this.groupId = groupId;
        this.name = name;
        this.ranks = ranks.clone();
        this.rank = rank;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return ranks.length;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int globalRank(int groupRank) {
        return ranks[groupRank];
    }

    @Override
    public void close() {
        closeCount++;
    }

    @Override
    public Handle allReduceAsync(ByteBuffer buf, ElementType type, ReduceOp op) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Handle reduceScatterAsync(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Handle allGatherAsync(ByteBuffer input, ByteBuffer output, ElementType type) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Handle broadcastAsync(ByteBuffer buf, int root) {
        throw new UnsupportedOperationException();
    }

    @Override
    public ByteBuffer[] allToAll(ByteBuffer[] send) {
        throw new UnsupportedOperationException();
    }

    @Override
    public void send(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Handle sendAsync(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException();
    }

    @Override
    public void recv(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Handle recvAsync(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException();
    }

    @Override
    public void barrier() {
        throw new UnsupportedOperationException();
    }
}
