package io.megalith.parallel.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Properties of the mesh over many shapes, checked against an independent oracle: the test derives
 * every rank's coordinates from the documented formula {@code rank = tp_rank + tp * (dp_rank + dp *
 * pp_rank)}, {@code dp_rank = ep_rank + ep * edp_rank}, and defines each group by which coordinates
 * its members share, never by the mesh's own arithmetic.
 */
class DeviceMeshTest {
    static Stream<Arguments> shapes() {
        // dp, tp, pp, ep
        return Stream.of(
                Arguments.of(1, 1, 1, 1),
                Arguments.of(1, 4, 1, 1), // tp only
                Arguments.of(4, 1, 1, 1), // dp only
                Arguments.of(4, 1, 1, 2),
                Arguments.of(4, 1, 1, 4), // ep = dp: edp groups are single ranks
                Arguments.of(1, 1, 4, 1), // pp only
                Arguments.of(2, 2, 2, 1),
                Arguments.of(2, 2, 2, 2),
                Arguments.of(4, 2, 2, 1),
                Arguments.of(4, 2, 2, 2), // the worked example of docs/MESH.md
                Arguments.of(4, 2, 2, 4),
                Arguments.of(3, 2, 1, 1),
                Arguments.of(3, 2, 1, 3),
                Arguments.of(1, 2, 3, 1),
                Arguments.of(2, 3, 1, 2),
                Arguments.of(6, 1, 1, 3),
                Arguments.of(6, 5, 3, 2),
                Arguments.of(8, 2, 3, 4));
    }

    /** The oracle's coordinates of every rank, indexed by rank, from the documented formula. */
    private static MeshCoordinates[] expectedCoordinates(int dp, int tp, int pp, int ep) {
        MeshCoordinates[] byRank = new MeshCoordinates[dp * tp * pp];
        for (int p = 0; p < pp; p++) {
            for (int d = 0; d < dp; d++) {
                for (int t = 0; t < tp; t++) {
                    int rank = t + tp * (d + dp * p);
                    assertThat(byRank[rank]).as("formula maps two positions to rank %d", rank).isNull();
                    byRank[rank] = new MeshCoordinates(t, d, p, d % ep, d / ep);
                }
            }
        }
        return byRank;
    }

    /** Whether two ranks belong to the same group of {@code kind}: they share its fixed coordinates. */
    private static boolean sameGroup(GroupKind kind, MeshCoordinates a, MeshCoordinates b) {
        boolean tp = a.tpRank() == b.tpRank();
        boolean dp = a.dpRank() == b.dpRank();
        boolean pp = a.ppRank() == b.ppRank();
        return switch (kind) {
            case WORLD -> true;
            case TENSOR -> dp && pp;
            case DATA -> tp && pp;
            case PIPELINE -> tp && dp;
            case EXPERT -> tp && pp && a.edpRank() == b.edpRank();
            case EXPERT_DATA -> tp && pp && a.epRank() == b.epRank();
        };
    }

    /** A member's group rank: its coordinate along the group's dimension. */
    private static int alongGroup(GroupKind kind, int rank, MeshCoordinates c) {
        return switch (kind) {
            case WORLD -> rank;
            case TENSOR -> c.tpRank();
            case DATA -> c.dpRank();
            case PIPELINE -> c.ppRank();
            case EXPERT -> c.epRank();
            case EXPERT_DATA -> c.edpRank();
        };
    }

    private static int expectedSize(GroupKind kind, int dp, int tp, int pp, int ep) {
        return switch (kind) {
            case WORLD -> dp * tp * pp;
            case TENSOR -> tp;
            case DATA -> dp;
            case PIPELINE -> pp;
            case EXPERT -> ep;
            case EXPERT_DATA -> dp / ep;
        };
    }

    @ParameterizedTest(name = "dp {0} x tp {1} x pp {2}, ep {3}")
    @MethodSource("shapes")
    void coordinatesRoundTrip(int dp, int tp, int pp, int ep) {
        DeviceMesh mesh = new DeviceMesh(dp, tp, pp, ep);
        MeshCoordinates[] expected = expectedCoordinates(dp, tp, pp, ep);
        assertThat(mesh.worldSize()).isEqualTo(expected.length);
        assertThat(mesh.edp()).isEqualTo(dp / ep);
        for (int r = 0; r < expected.length; r++) {
            MeshCoordinates c = mesh.coordinates(r);
            assertThat(c).as("coordinates of rank %d", r).isEqualTo(expected[r]);
            assertThat(mesh.rank(c)).isEqualTo(r);
            assertThat(mesh.rank(c.tpRank(), c.dpRank(), c.ppRank())).isEqualTo(r);
        }
    }

    @ParameterizedTest(name = "dp {0} x tp {1} x pp {2}, ep {3}")
    @MethodSource("shapes")
    void eachRanksGroupsAreTheRanksSharingTheFixedCoordinates(int dp, int tp, int pp, int ep) {
        DeviceMesh mesh = new DeviceMesh(dp, tp, pp, ep);
        MeshCoordinates[] coords = expectedCoordinates(dp, tp, pp, ep);
        for (GroupKind kind : GroupKind.values()) {
            int size = expectedSize(kind, dp, tp, pp, ep);
            assertThat(mesh.groupSize(kind)).isEqualTo(size);
            assertThat(mesh.groupCount(kind)).isEqualTo(coords.length / size);
            for (int r = 0; r < coords.length; r++) {
                MeshGroup g = mesh.group(kind, r);
                int[] members = new int[size];
                int found = 0;
                for (int s = 0; s < coords.length; s++) {
                    if (sameGroup(kind, coords[r], coords[s])) {
                        found++;
                        members[alongGroup(kind, s, coords[s])] = s;
                    }
                }
                assertThat(found).as("%s group of rank %d has %d members", kind, r, size).isEqualTo(size);
                assertThat(g.ranks()).as("%s group of rank %d in group-rank order", kind, r).containsExactly(members);
                assertThat(g.kind()).isEqualTo(kind);
                assertThat(g.size()).isEqualTo(size);
                assertThat(g.groupRankOf(r)).isEqualTo(alongGroup(kind, r, coords[r]));
                assertThat(g.contains(r)).isTrue();
            }
        }
    }

    @ParameterizedTest(name = "dp {0} x tp {1} x pp {2}, ep {3}")
    @MethodSource("shapes")
    void groupsOfAKindPartitionTheWorld(int dp, int tp, int pp, int ep) {
        DeviceMesh mesh = new DeviceMesh(dp, tp, pp, ep);
        int world = mesh.worldSize();
        for (GroupKind kind : GroupKind.values()) {
            List<MeshGroup> groups = mesh.groups(kind);
            assertThat(groups).hasSize(mesh.groupCount(kind));
            int[] seen = new int[world];
            int previousLowest = -1;
            for (int i = 0; i < groups.size(); i++) {
                MeshGroup g = groups.get(i);
                assertThat(g.index()).isEqualTo(i);
                int lowest = Arrays.stream(g.ranks()).min().orElseThrow();
                assertThat(lowest).as("%s groups ordered by lowest member", kind).isGreaterThan(previousLowest);
                previousLowest = lowest;
                for (int r : g.ranks()) {
                    seen[r]++;
                    assertThat(mesh.group(kind, r)).as("%s group of rank %d", kind, r).isEqualTo(g);
                }
            }
            assertThat(seen).as("every rank in exactly one %s group", kind).containsOnly(1);
        }
    }

    @ParameterizedTest(name = "dp {0} x tp {1} x pp {2}, ep {3}")
    @MethodSource("shapes")
    void idsAreUniqueAndEveryMemberComputesTheSameGroup(int dp, int tp, int pp, int ep) {
        int world = dp * tp * pp;
        // Each rank builds its own mesh, as separate processes would, and reports the groups it is in.
        Map<Integer, MeshGroup> byId = new HashMap<>();
        Map<Integer, Set<Integer>> reporters = new HashMap<>();
        for (int r = 0; r < world; r++) {
            DeviceMesh onRankR = new DeviceMesh(dp, tp, pp, ep);
            for (GroupKind kind : GroupKind.values()) {
                MeshGroup g = onRankR.group(kind, r);
                MeshGroup earlier = byId.putIfAbsent(g.id(), g);
                if (earlier != null) {
                    assertThat(g).as("group id %d as computed on rank %d", g.id(), r).isEqualTo(earlier);
                    assertThat(g.name()).isEqualTo(earlier.name());
                }
                reporters.computeIfAbsent(g.id(), k -> new HashSet<>()).add(r);
            }
        }
        DeviceMesh mesh = new DeviceMesh(dp, tp, pp, ep);
        int total = Arrays.stream(GroupKind.values()).mapToInt(mesh::groupCount).sum();
        assertThat(byId).as("distinct ids = distinct groups").hasSize(total);
        for (MeshGroup g : byId.values()) {
            assertThat(reporters.get(g.id())).as("ranks reporting %s", g).containsExactlyInAnyOrderElementsOf(
                    Arrays.stream(g.ranks()).boxed().toList());
            assertThat(g.id()).isEqualTo(g.kind().ordinal() * world + g.index());
            assertThat(g.id()).isBetween(0, mesh.firstFreeGroupId() - 1);
        }
        List<Integer> allIds = new ArrayList<>();
        mesh.allGroups().forEach(g -> allIds.add(g.id()));
        assertThat(allIds).doesNotHaveDuplicates().hasSize(total).containsExactlyInAnyOrderElementsOf(byId.keySet());
    }

    @ParameterizedTest(name = "dp {0} x tp {1} x pp {2}, ep {3}")
    @MethodSource("shapes")
    void namesSayTheKindAndDetermineTheMembers(int dp, int tp, int pp, int ep) {
        DeviceMesh mesh = new DeviceMesh(dp, tp, pp, ep);
        for (GroupKind kind : GroupKind.values()) {
            Set<String> names = new HashSet<>();
            for (MeshGroup g : mesh.groups(kind)) {
                assertThat(g.name()).startsWith(kind.prefix() + "[").endsWith("]");
                assertThat(MeshGroupNameTest.decode(g.name())).as(g.name()).containsExactly(g.ranks());
                names.add(g.name());
            }
            assertThat(names).as("%s names distinct", kind).hasSize(mesh.groupCount(kind));
        }
    }

    @Test
    void singleIsOneRankInEveryGroupOfItself() {
        DeviceMesh mesh = DeviceMesh.single();
        assertThat(mesh.worldSize()).isEqualTo(1);
        assertThat(mesh.coordinates(0)).isEqualTo(new MeshCoordinates(0, 0, 0, 0, 0));
        for (GroupKind kind : GroupKind.values()) {
            MeshGroup g = mesh.group(kind, 0);
            assertThat(g.ranks()).containsExactly(0);
            assertThat(g.name()).isEqualTo(kind.prefix() + "[0]");
            assertThat(g.id()).isEqualTo(kind.ordinal());
        }
        assertThat(mesh.group(GroupKind.WORLD, 0).name()).as("as SingleRankCommunicator names it").isEqualTo("world[0]");
    }

    @Test
    void ranksReturnsACopy() {
        MeshGroup g = DeviceMesh.of(4, 1, 1).group(GroupKind.DATA, 0);
        g.ranks()[0] = 99;
        assertThat(g.ranks()).containsExactly(0, 1, 2, 3);
        assertThat(IntStream.range(0, 4).map(g::globalRank).toArray()).containsExactly(0, 1, 2, 3);
    }
}
