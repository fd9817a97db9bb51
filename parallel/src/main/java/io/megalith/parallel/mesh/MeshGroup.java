package io.megalith.parallel.mesh;

import java.util.Arrays;

/**
 * One process group of a {@link DeviceMesh}: its kind, its position among the groups of that kind, its
 * job-wide id and readable name, and its members. Every rank computes the same values for the same
 * group, which is what lets the members agree on message keys without talking first.
 */
public final class MeshGroup {
    /** Longest member list a name spells out in full; longer groups are written as a range. */
    static final int MAX_LISTED = 4;

    private final GroupKind kind;
    private final int index;
    private final int id;
    private final String name;
    private final int[] ranks;

    MeshGroup(GroupKind kind, int index, int id, int[] ranks) {
        this.kind = kind;
        this.index = index;
        this.id = id;
        this.ranks = ranks;
        this.name = name(kind.prefix(), ranks);
    }

    public GroupKind kind() {
        return kind;
    }

    /** Position of this group among the groups of its kind, ordered by lowest member; 0-based. */
    public int index() {
        return index;
    }

    /** Unique within the job: {@code kind.ordinal() * worldSize + index}. */
    public int id() {
        return id;
    }

    /** E.g. {@code tp[0,1]}, {@code dp[0,2,4,6]}, {@code world[0..15]}, {@code dp[1,3..15]}. */
    public String name() {
        return name;
    }

    public int size() {
        return ranks.length;
    }

    /** Global ranks of the members in group-rank order (a copy): element i is group rank i. */
    public int[] ranks() {
        return ranks.clone();
    }

    /** Global rank of group rank {@code groupRank}. */
    public int globalRank(int groupRank) {
        return ranks[groupRank];
    }

    /** Group rank of global rank {@code globalRank}, or -1 if it is not a member. */
    public int groupRankOf(int globalRank) {
        for (int i = 0; i < ranks.length; i++) {
            if (ranks[i] == globalRank) {
                return i;
            }
        }
        return -1;
    }

    public boolean contains(int globalRank) {
        return groupRankOf(globalRank) >= 0;
    }

    /**
     * Readable group name: members listed in full up to {@link #MAX_LISTED}; longer arithmetic
     * progressions (all mesh groups are) as {@code first..last} for step 1 or {@code first,second..last}
     * otherwise, which still determines every member; anything else as {@code first,second,...,last}.
     */
    static String name(String prefix, int[] ranks) {
        StringBuilder s = new StringBuilder(prefix).append('[');
        int n = ranks.length;
        if (n <= MAX_LISTED) {
            for (int i = 0; i < n; i++) {
                s.append(i == 0 ? "" : ",").append(ranks[i]);
            }
        } else if (isArithmetic(ranks)) {
            s.append(ranks[0]);
            if (ranks[1] - ranks[0] != 1) {
                s.append(',').append(ranks[1]);
            }
            s.append("..").append(ranks[n - 1]);
        } else {
            s.append(ranks[0]).append(',').append(ranks[1]).append(",...,").append(ranks[n - 1]);
        }
        return s.append(']').toString();
    }

    private static boolean isArithmetic(int[] r) {
        for (int i = 2; i < r.length; i++) {
            if (r[i] - r[i - 1] != r[1] - r[0]) {
                return false;
            }
        }
        return true;
    }

    /** Groups are equal when kind, index, id and members are: i.e. when two ranks computed the same group. */
    @Override
    public boolean equals(Object o) {
        return o instanceof MeshGroup g
                && kind == g.kind
                && index == g.index
                && id == g.id
                && Arrays.equals(ranks, g.ranks);
    }

    @Override
    public int hashCode() {
        return 31 * id + Arrays.hashCode(ranks);
    }

    @Override
    public String toString() {
        return name + " (id " + id + ")";
    }
}
