package io.megalith.comm;

import java.nio.ByteBuffer;

/**
 * The operations a group of ranks performs together, as PyTorch code sees a process group. trainer-core
 * computes against this interface; the parallel module implements it over Netty sockets.
 *
 * <p>Rules every implementation keeps:
 * <ul>
 *   <li>All ranks of a group issue the group's collectives in the same order (as with NCCL/gloo).
 *   <li>Buffers are little-endian and read from their position to their limit; positions are not moved.
 *   <li>Sizes need not divide by the group size: element range of rank r in a partition of n elements
 *       is [{@link #partStart}(n, r), {@link #partStart}(n, r + 1)), i.e. n*r/size rounded down.
 *   <li>Results of all-reduce are bit-identical on every rank.
 *   <li>Every operation has a deadline; a dead or silent peer raises {@link CommException} naming the
 *       operation, the group and the peer, never a hang.
 * </ul>
 * Async variants return at once; the caller must not touch the buffers until {@link Handle#await()}.
 */
public interface Communicator extends AutoCloseable {
    /** This rank's index in the group, 0..size-1. */
    int rank();

    int size();

    /** A readable name such as {@code dp[0,2,4,6]}, used in errors and logs. */
    String name();

    /** The global rank (in the whole job) of group member {@code groupRank}. */
    int globalRank(int groupRank);

    /** Combines {@code buf} element-wise across the group, in place. */
    default void allReduce(ByteBuffer buf, ElementType type, ReduceOp op) {
        allReduceAsync(buf, type, op).await();
    }

    Handle allReduceAsync(ByteBuffer buf, ElementType type, ReduceOp op);

    /**
     * Combines {@code input} (n elements, the same n on every rank) across the group and leaves this
     * rank's part [partStart(n, rank), partStart(n, rank + 1)) in {@code output}.
     */
    default void reduceScatter(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op) {
        reduceScatterAsync(input, output, type, op).await();
    }

    Handle reduceScatterAsync(ByteBuffer input, ByteBuffer output, ElementType type, ReduceOp op);

    /**
     * Gathers every rank's part into {@code output} (n elements): rank r's {@code input} holds
     * partStart(n, r+1) - partStart(n, r) elements and lands at partStart(n, r). {@code input} may be exactly that
     * segment of {@code output} (in place, as torch's all_gather_into_tensor allows): ZeRO gathers updated pieces so.
     */
    default void allGather(ByteBuffer input, ByteBuffer output, ElementType type) {
        allGatherAsync(input, output, type).await();
    }

    Handle allGatherAsync(ByteBuffer input, ByteBuffer output, ElementType type);

    /** Copies {@code buf} of group rank {@code root} into {@code buf} of every other rank (same size everywhere). */
    default void broadcast(ByteBuffer buf, int root) {
        broadcastAsync(buf, root).await();
    }

    Handle broadcastAsync(ByteBuffer buf, int root);

    /**
     * Every rank sends {@code send[j]} (any size, zero included) to group rank j and returns what each
     * rank sent it: element j of the result came from group rank j. Sizes need not be known in advance.
     */
    ByteBuffer[] allToAll(ByteBuffer[] send);

    /** Sends {@code buf} to group rank {@code peer}; {@code tag} matches it with the peer's {@link #recv}. */
    void send(ByteBuffer buf, int peer, int tag);

    Handle sendAsync(ByteBuffer buf, int peer, int tag);

    /** Receives the message {@code peer} sent with {@code tag} into {@code buf} (exactly its remaining size). */
    void recv(ByteBuffer buf, int peer, int tag);

    Handle recvAsync(ByteBuffer buf, int peer, int tag);

    /** Returns when every rank of the group has entered the barrier. */
    void barrier();

    /** First element of rank {@code r}'s part of {@code n} elements: floor(n * r / size). */
    default long partStart(long n, int r) {
        return n * r / size();
    }

    @Override
    void close();
}
