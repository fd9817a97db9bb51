package io.megalith.parallel.mesh;

import java.util.ArrayList;
import java.util.List;

/**
 * How the {@code dp x tp x pp} ranks of a job are arranged, with expert parallelism carved out of the
 * data-parallel dimension as in Megatron-Core: each data-parallel group of {@code dp} ranks is split
 * into {@code dp / ep} expert-parallel groups of {@code ep} ranks; ranks at the same position of those
 * groups form an expert-data-parallel group of {@code edp = dp / ep} ranks.
 *
 * <p>Rank order is Megatron's default "tp-dp-pp": tp varies fastest, pp slowest, and within dp the
 * expert rank varies fastest:
 * <pre>
 *   rank    = tpRank + tp * (dpRank + dp * ppRank)
 *   dpRank  = epRank + ep * edpRank
 * </pre>
 * Tensor parallelism talks in every layer, so it gets the closest ranks (consecutive ranks are
 * placed on the same host). See docs/MESH.md for a worked example.
 *
 * <p>Pure arithmetic: every rank builds the same mesh from the same configuration and so computes
 * the same groups, ids and names without communicating.
 *
 * @param dp data-parallel size (number of model replicas), >= 1
 * @param tp tensor-parallel size, >= 1
 * @param pp pipeline-parallel size (number of stages), >= 1
 * @param ep expert-parallel size, >= 1, a divisor of {@code dp}
 */
public record DeviceMesh(int dp, int tp, int pp, int ep) {
    /** Largest world for which every group id, {@code kinds * worldSize}, still fits in an int. */
    static final int MAX_WORLD_SIZE = Integer.MAX_VALUE / GroupKind.values().length;

    public DeviceMesh {
        atLeastOne("parallel.dp", dp);
        atLeastOne("parallel.tp", tp);
        atLeastOne("parallel.pp", pp);
        atLeastOne("parallel.ep", ep);
        if (dp % ep != 0) {
            throw new IllegalArgumentException("parallel.ep " + ep + " does not divide parallel.dp " + dp
                    + ": expert-parallel groups are carved out of the data-parallel ranks; set parallel.ep to one of "
                    + divisors(dp));
        }
        long world = (long) dp * tp * pp;
        if (world > MAX_WORLD_SIZE) {
            throw new IllegalArgumentException("dp " + dp + " x tp " + tp + " x pp " + pp + " = " + world
                    + " ranks is more than the supported " + MAX_WORLD_SIZE);
        }
    }

    /** A mesh without expert parallelism (ep = 1). */
    public static DeviceMesh of(int dp, int tp, int pp) {
        return new DeviceMesh(dp, tp, pp, 1);
    }

    /** The mesh of a job of one rank: every group is that rank alone. */
    public static DeviceMesh single() {
        return new DeviceMesh(1, 1, 1, 1);
    }

    /**
     * The mesh of a job of {@code worldSize} ranks with the configured sizes, failing with a message
     * that says which setting to change when {@code dp x tp x pp} is not the number of ranks.
     */
    public static DeviceMesh forWorld(int worldSize, int dp, int tp, int pp, int ep) {
        atLeastOne("world size", worldSize);
        atLeastOne("parallel.tp", tp);
        atLeastOne("parallel.pp", pp);
        atLeastOne("parallel.dp", dp);
        long product = (long) dp * tp * pp;
        if (product != worldSize) {
            throw new IllegalArgumentException("world size " + worldSize + " != dp " + dp + " x tp " + tp
                    + " x pp " + pp + " = " + product + "; " + howToFitDp(worldSize, tp, pp, ep));
        }
        return new DeviceMesh(dp, tp, pp, ep);
    }

    /** As Megatron does: dp is whatever is left of the world after tp and pp, {@code worldSize / (tp x pp)}. */
    public static DeviceMesh inferDataParallel(int worldSize, int tp, int pp, int ep) {
        atLeastOne("world size", worldSize);
        atLeastOne("parallel.tp", tp);
        atLeastOne("parallel.pp", pp);
        long modelRanks = (long) tp * pp;
        if (worldSize % modelRanks != 0) {
            throw new IllegalArgumentException("world size " + worldSize + " is not a multiple of tp " + tp
                    + " x pp " + pp + " = " + modelRanks + "; " + howToFitDp(worldSize, tp, pp, ep));
        }
        return new DeviceMesh((int) (worldSize / modelRanks), tp, pp, ep);
    }

    /** The advice part of a world-size mismatch: the dp that fits, or that tp and pp must change. */
    private static String howToFitDp(int worldSize, int tp, int pp, int ep) {
        long modelRanks = (long) tp * pp;
        if (worldSize % modelRanks != 0) {
            return "set parallel.dp so that dp x tp x pp = " + worldSize + ", which needs tp x pp (" + modelRanks
                    + ") to divide " + worldSize + ": change parallel.tp or parallel.pp, or run on a multiple of "
                    + modelRanks + " ranks";
        }
        long dp = worldSize / modelRanks;
        String advice = "set parallel.dp so that dp x tp x pp = " + worldSize + ", i.e. parallel.dp = " + dp;
        if (ep >= 1 && dp % ep != 0) {
            advice += ", and parallel.ep to one of " + divisors((int) dp);
        }
        return advice;
    }

    /** Number of ranks in the job, {@code dp x tp x pp}. */
    public int worldSize() {
        return dp * tp * pp;
    }

    /** Expert-data-parallel size, {@code dp / ep}: how many ranks hold each expert. */
    public int edp() {
        return dp / ep;
    }

    /** Members in each group of {@code kind}. */
    public int groupSize(GroupKind kind) {
        return switch (kind) {
            case WORLD -> worldSize();
            case TENSOR -> tp;
            case DATA -> dp;
            case PIPELINE -> pp;
            case EXPERT -> ep;
            case EXPERT_DATA -> edp();
        };
    }

    /** Number of groups of {@code kind}; together they partition the world. */
    public int groupCount(GroupKind kind) {
        return worldSize() / groupSize(kind);
    }

    /** Where {@code rank} sits in the mesh. */
    public MeshCoordinates coordinates(int rank) {
        checkRank(rank);
        int tpRank = rank % tp;
        int dpRank = rank / tp % dp;
        int ppRank = rank / (tp * dp);
        return new MeshCoordinates(tpRank, dpRank, ppRank, dpRank % ep, dpRank / ep);
    }

    /** The rank at the given position: {@code tpRank + tp * (dpRank + dp * ppRank)}. */
    public int rank(int tpRank, int dpRank, int ppRank) {
        checkCoordinate("tp", tpRank, tp);
        checkCoordinate("dp", dpRank, dp);
        checkCoordinate("pp", ppRank, pp);
        return tpRank + tp * (dpRank + dp * ppRank);
    }

    /** The rank at {@code c}; its ep and edp ranks must agree with its dp rank. */
    public int rank(MeshCoordinates c) {
        if (c.epRank() + ep * c.edpRank() != c.dpRank()) {
            throw new IllegalArgumentException("coordinates " + c + " are inconsistent: in " + this
                    + " dp rank = ep rank + " + ep + " x edp rank");
        }
        return rank(c.tpRank(), c.dpRank(), c.ppRank());
    }

    /** The group of {@code kind} that {@code rank} belongs to, members in group-rank order. */
    public MeshGroup group(GroupKind kind, int rank) {
        MeshCoordinates c = coordinates(rank);
        int[] members = new int[groupSize(kind)];
        // Member i is the rank whose coordinate along the group's dimension is i, the others held fixed;
        // so group rank = that coordinate (e.g. a rank's place in its dp group is its dp rank).
        for (int i = 0; i < members.length; i++) {
            members[i] = switch (kind) {
                case WORLD -> i;
                case TENSOR -> rank(i, c.dpRank(), c.ppRank());
                case DATA -> rank(c.tpRank(), i, c.ppRank());
                case PIPELINE -> rank(c.tpRank(), c.dpRank(), i);
                case EXPERT -> rank(c.tpRank(), i + ep * c.edpRank(), c.ppRank());
                case EXPERT_DATA -> rank(c.tpRank(), c.epRank() + ep * i, c.ppRank());
            };
        }
        int index = groupIndex(kind, c);
        return new MeshGroup(kind, index, kind.ordinal() * worldSize() + index, members);
    }

    /**
     * The coordinates a group holds fixed, numbered in the same fastest-to-slowest order as ranks
     * (tp, then ep, then edp / dp, then pp). Because the rank formula increases with every coordinate,
     * this is also the order of the groups' lowest members.
     */
    private int groupIndex(GroupKind kind, MeshCoordinates c) {
        return switch (kind) {
            case WORLD -> 0;
            case TENSOR -> c.dpRank() + dp * c.ppRank();
            case DATA -> c.tpRank() + tp * c.ppRank();
            case PIPELINE -> c.tpRank() + tp * c.dpRank();
            case EXPERT -> c.tpRank() + tp * (c.edpRank() + edp() * c.ppRank());
            case EXPERT_DATA -> c.tpRank() + tp * (c.epRank() + ep * c.ppRank());
        };
    }

    /** Every group of {@code kind}, by index (= by lowest member). Meant for docs, tests and logs. */
    public List<MeshGroup> groups(GroupKind kind) {
        MeshGroup[] byIndex = new MeshGroup[groupCount(kind)];
        for (int r = 0; r < worldSize(); r++) {
            MeshGroup g = group(kind, r);
            if (byIndex[g.index()] == null) {
                byIndex[g.index()] = g;
            }
        }
        return List.of(byIndex);
    }

    /** Every group of every kind, kind by kind. */
    public List<MeshGroup> allGroups() {
        List<MeshGroup> all = new ArrayList<>();
        for (GroupKind kind : GroupKind.values()) {
            all.addAll(groups(kind));
        }
        return all;
    }

    /**
     * Mesh group ids occupy {@code [0, firstFreeGroupId())}; groups defined elsewhere (e.g. a pipeline's
     * embedding group) can number theirs from here without clashing.
     */
    public int firstFreeGroupId() {
        return GroupKind.values().length * worldSize();
    }

    @Override
    public String toString() {
        return "mesh dp " + dp + " x tp " + tp + " x pp " + pp + " = " + worldSize() + " ranks, ep " + ep + " x edp "
                + edp();
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= worldSize()) {
            throw new IllegalArgumentException("rank " + rank + " outside the " + worldSize() + " ranks (0.."
                    + (worldSize() - 1) + ") of " + this);
        }
    }

    private static void checkCoordinate(String dim, int value, int size) {
        if (value < 0 || value >= size) {
            throw new IllegalArgumentException(dim + " rank " + value + " outside 0.." + (size - 1));
        }
    }

    private static void atLeastOne(String what, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(what + " must be >= 1 (got " + value + ")");
        }
    }

    private static List<Integer> divisors(int n) {
        List<Integer> d = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            if (n % i == 0) {
                d.add(i);
            }
        }
        return d;
    }
}
