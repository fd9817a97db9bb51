package io.megalith.comm;

import java.nio.ByteBuffer;

/**
 * The group of one rank: every collective is the identity (or a copy between buffers), at no cost.
 * What a model sees when it runs unparallelised.
 */
public final class SingleRankCommunicator implements Communicator {
    private final String name;
    private final int globalRank;

    public SingleRankCommunicator(String name, int globalRank) {
        this.name = name;
        this.globalRank = globalRank;
    }

    public SingleRankCommunicator() {
        this("world[0]", 0);
    }

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int size() {
        return 1;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int globalRank(int groupRank) {
        check(groupRank, "group rank");
        return globalRank;
    }

    @Override
    public Handle allReduceAsync(ByteBuffer buf, ElementType type, ReduceOp op) {
        return Handle.done(); // the sum, average or maximum of one value is the value
    }

    @Override
    public Handle reduceScatterAsync(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op) {
        copy(input, output);
        return Handle.done();
    }

    @Override
    public Handle allGatherAsync(ByteBuffer input, ByteBuffer output, ElementType type) {
        copy(input, output);
        return Handle.done();
    }

    @Override
    public Handle broadcastAsync(ByteBuffer buf, int root) {
        check(root, "root");
        return Handle.done();
    }

    @Override
    public ByteBuffer[] allToAll(ByteBuffer[] send) {
        if (send.length != 1) {
            throw new IllegalArgumentException("all_to_all on " + name + ": expected 1 part, got " + send.length);
        }
        ByteBuffer copy = ByteBuffer.allocate(send[0].remaining());
        copy.put(send[0].duplicate()).flip();
        return new ByteBuffer[] {copy};
    }

    @Override
    public void send(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException("send on " + name + ": a group of one has no peer");
    }

    @Override
    public Handle sendAsync(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException("send on " + name + ": a group of one has no peer");
    }

    @Override
    public void recv(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException("recv on " + name + ": a group of one has no peer");
    }

    @Override
    public Handle recvAsync(ByteBuffer buf, int peer, int tag) {
        throw new UnsupportedOperationException("recv on " + name + ": a group of one has no peer");
    }

    @Override
    public void barrier() {}

    @Override
    public void close() {}

    private static void copy(ByteBuffer from, ByteBuffer to) {
        if (from.remaining() != to.remaining()) {
            throw new IllegalArgumentException("input has " + from.remaining() + " bytes, output " + to.remaining());
        }
        if (from != to) {
            to.duplicate().put(from.duplicate());
        }
    }

    private void check(int r, String what) {
        if (r != 0) {
            throw new IllegalArgumentException(what + " " + r + " outside group " + name + " of size 1");
        }
    }
}
