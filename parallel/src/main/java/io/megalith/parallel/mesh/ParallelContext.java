package io.megalith.parallel.mesh;

import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import java.util.EnumMap;
import java.util.Map;

/**
 * One rank's view of the mesh: its coordinates and a communicator for each of its groups. Built once
 * per rank at job start; the training code asks it for the group an operation needs (gradients over
 * {@link #dataParallel()}, activations over {@link #tensorParallel()}, ...).
 *
 * <p>All communicators are created in the constructor, in {@link GroupKind} order, rather than on
 * first use: a factory whose communicators exchange messages when created then sees the same order
 * on every rank, and a bad factory fails at start, not mid-step. Groups of one rank get a
 * {@link SingleRankCommunicator} (no sockets, no threads) instead of a factory call.
 */
public final class ParallelContext implements AutoCloseable {
    private final DeviceMesh mesh;
    private final int rank;
    private final MeshCoordinates coordinates;
    private final Map<GroupKind, MeshGroup> groups = new EnumMap<>(GroupKind.class);
    private final Map<GroupKind, Communicator> communicators = new EnumMap<>(GroupKind.class);
    private boolean closed;

    /**
     * Creates the communicators of {@code rank}'s groups. If the factory fails, the communicators made
     * so far are closed before the failure propagates.
     *
     * @throws IllegalArgumentException if {@code rank} is outside the mesh
     * @throws IllegalStateException if the factory returns a communicator whose size, rank or members
     *     disagree with the group it was asked for
     */
    public ParallelContext(DeviceMesh mesh, int rank, GroupFactory factory) {
        this.mesh = mesh;
        this.rank = rank;
        this.coordinates = mesh.coordinates(rank);
        try {
            for (GroupKind kind : GroupKind.values()) {
                MeshGroup group = mesh.group(kind, rank);
                groups.put(kind, group);
                communicators.put(kind, create(group, factory));
            }
            this.embedding = createEmbeddingGroup(factory);
        } catch (RuntimeException | Error e) {
            closeAll(e);
            throw e;
        }
    }

    /**
     * Megatron's embedding group: with pipelining, the first and the last stage of the same (tp, dp) position
     * both hold the token embedding (the head is tied to it) and sum its gradient. Null on middle stages and
     * without pipelining. Its id follows the mesh's groups ({@link DeviceMesh#firstFreeGroupId()}).
     */
    private Communicator createEmbeddingGroup(GroupFactory factory) {
        int pp = mesh.pp();
        MeshCoordinates c = coordinates;
        if (pp == 1 || (c.ppRank() != 0 && c.ppRank() != pp - 1)) {
            return null;
        }
        int first = mesh.rank(c.tpRank(), c.dpRank(), 0);
        int last = mesh.rank(c.tpRank(), c.dpRank(), pp - 1);
        int id = mesh.firstFreeGroupId() + first;
        return factory.create(id, "embed[" + first + "," + last + "]", new int[] {first, last});
    }

    private final Communicator embedding;

    /** The embedding group of this rank (first and last pipeline stage), or null. */
    public Communicator embedding() {
        return embedding;
    }

    /** This rank's groups as trainer-core sees them. */
    public RankGroups rankGroups() {
        return new RankGroups(dataParallel(), tensorParallel(), pipeline(), embedding,
                expertParallel(), expertDataParallel());
    }

    /** The context of a job of one rank: every communicator is a {@link SingleRankCommunicator}. */
    public static ParallelContext single() {
        return new ParallelContext(DeviceMesh.single(), 0, (id, name, ranks) -> {
            throw new IllegalStateException("a one-rank mesh has no group of " + ranks.length + " ranks: " + name);
        });
    }

    private Communicator create(MeshGroup group, GroupFactory factory) {
        if (group.size() == 1) {
            return new SingleRankCommunicator(group.name(), rank);
        }
        Communicator c = factory.create(group.id(), group.name(), group.ranks());
        String problem = mismatch(c, group);
        if (problem != null) {
            if (c != null) {
                c.close();
            }
            throw new IllegalStateException("group factory made a wrong communicator for " + group + " on rank "
                    + rank + ": " + problem);
        }
        return c;
    }

    /** Why {@code c} cannot be rank {@code rank}'s communicator over {@code group}, or null if it can. */
    private String mismatch(Communicator c, MeshGroup group) {
        if (c == null) {
            return "got null";
        }
        if (c.size() != group.size()) {
            return "size " + c.size() + ", expected " + group.size();
        }
        if (c.rank() != group.groupRankOf(rank)) {
            return "group rank " + c.rank() + ", expected " + group.groupRankOf(rank);
        }
        for (int i = 0; i < group.size(); i++) {
            if (c.globalRank(i) != group.globalRank(i)) {
                return "group rank " + i + " is global rank " + c.globalRank(i) + ", expected " + group.globalRank(i);
            }
        }
        return null;
    }

    public DeviceMesh mesh() {
        return mesh;
    }

    /** This rank's global rank. */
    public int rank() {
        return rank;
    }

    public MeshCoordinates coordinates() {
        return coordinates;
    }

    /** This rank's group of {@code kind}: members, id, name. */
    public MeshGroup group(GroupKind kind) {
        return groups.get(kind);
    }

    /** The communicator over this rank's group of {@code kind}; the same instance on every call. */
    public Communicator communicator(GroupKind kind) {
        if (closed) {
            throw new IllegalStateException("parallel context of rank " + rank + " is closed");
        }
        return communicators.get(kind);
    }

    /** All ranks of the job. */
    public Communicator world() {
        return communicator(GroupKind.WORLD);
    }

    /** The ranks that split this rank's layers: same dp and pp. */
    public Communicator tensorParallel() {
        return communicator(GroupKind.TENSOR);
    }

    /** The ranks that hold replicas of this rank's weights: same tp and pp. */
    public Communicator dataParallel() {
        return communicator(GroupKind.DATA);
    }

    /** The stages of this rank's model replica: same tp and dp. */
    public Communicator pipeline() {
        return communicator(GroupKind.PIPELINE);
    }

    /** The ranks that split the experts of this rank's MoE layers: same tp, pp and edp. */
    public Communicator expertParallel() {
        return communicator(GroupKind.EXPERT);
    }

    /** The ranks that hold replicas of this rank's experts: same tp, pp and ep. */
    public Communicator expertDataParallel() {
        return communicator(GroupKind.EXPERT_DATA);
    }

    /**
     * Closes every communicator once, even if some fail; the first failure is thrown with the others
     * suppressed. Closing again does nothing.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (embedding != null) {
            embedding.close();
        }
        RuntimeException first = closeAll(null);
        if (first != null) {
            throw first;
        }
    }

    /**
     * Closes what was created, newest first as try-with-resources would; failures are added to
     * {@code cause} or returned.
     */
    private RuntimeException closeAll(Throwable cause) {
        RuntimeException first = null;
        GroupKind[] kinds = communicators.keySet().toArray(new GroupKind[0]);
        for (int i = kinds.length - 1; i >= 0; i--) {
            try {
                communicators.get(kinds[i]).close();
            } catch (RuntimeException e) {
                if (cause != null) {
                    cause.addSuppressed(e);
                } else if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        return first;
    }

    @Override
    public String toString() {
        return "rank " + rank + " at " + coordinates + " of " + mesh;
    }
}
