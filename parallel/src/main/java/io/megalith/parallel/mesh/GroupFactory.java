package io.megalith.parallel.mesh;

import io.megalith.comm.Communicator;

/**
 * Makes the communicator of one process group for the calling rank. In a job this is
 * {@code (id, name, ranks) -> new GroupCommunicator(transport, id, name, ranks, options)}; tests pass a
 * fake. Keeping this an interface lets the mesh be built and tested without any transport.
 */
@FunctionalInterface
public interface GroupFactory {
    /**
     * @param groupId the group's id, unique within the job and the same on every member (it keys the
     *     group's messages, so it must agree across ranks)
     * @param name readable name such as {@code dp[0,2,4,6]}, for errors and logs
     * @param globalRanks global rank of each group rank: {@code globalRanks[i]} is group rank i; the
     *     caller's own global rank is among them. The factory may keep the array.
     */
    Communicator create(int groupId, String name, int[] globalRanks);
}
