package io.megalith.parallel.mesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.parallel.mesh.RecordingGroupFactory.Call;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ParallelContextTest {
    /** dp 2 x tp 2 x pp 2 with ep 2: rank 5 is tp 1, dp 0, pp 1; its edp group is itself alone. */
    private final DeviceMesh mesh = new DeviceMesh(2, 2, 2, 2);

    @Test
    void createsEachMultiRankGroupOnceInKindOrder() {
        RecordingGroupFactory factory = new RecordingGroupFactory(5);
        try (ParallelContext ctx = new ParallelContext(mesh, 5, factory)) {
            assertThat(factory.calls).containsExactly(
                    new Call(0, "world[0..7]", List.of(0, 1, 2, 3, 4, 5, 6, 7)),
                    new Call(10, "tp[4,5]", List.of(4, 5)),
                    new Call(19, "dp[5,7]", List.of(5, 7)),
                    new Call(25, "pp[1,5]", List.of(1, 5)),
                    new Call(35, "ep[5,7]", List.of(5, 7)),
                    // rank 5 is a last pipeline stage: it ties its token embedding with rank 1, the first stage
                    new Call(mesh.firstFreeGroupId() + 1, "embed[1,5]", List.of(1, 5)));
            assertThat(ctx.rank()).isEqualTo(5);
            assertThat(ctx.mesh()).isSameAs(mesh);
            assertThat(ctx.coordinates()).isEqualTo(new MeshCoordinates(1, 0, 1, 0, 0));
            assertThat(ctx.group(GroupKind.PIPELINE).ranks()).containsExactly(1, 5);

            assertThat(ctx.world().name()).isEqualTo("world[0..7]");
            assertThat(ctx.tensorParallel().name()).isEqualTo("tp[4,5]");
            assertThat(ctx.dataParallel().name()).isEqualTo("dp[5,7]");
            assertThat(ctx.pipeline().name()).isEqualTo("pp[1,5]");
            assertThat(ctx.expertParallel().name()).isEqualTo("ep[5,7]");
            assertThat(ctx.pipeline().rank()).isEqualTo(1);
            // ep = dp here: same members as the dp group, but its own communicator and id, so that
            // expert and gradient traffic never share a message sequence.
            assertThat(ctx.expertParallel()).isNotSameAs(ctx.dataParallel());

            Communicator edp = ctx.expertDataParallel();
            assertThat(edp).isInstanceOf(SingleRankCommunicator.class);
            assertThat(edp.name()).isEqualTo("edp[5]");
            assertThat(edp.globalRank(0)).isEqualTo(5);

            // asking again hands out the same instances and makes nothing new
            assertThat(ctx.world()).isSameAs(ctx.communicator(GroupKind.WORLD)).isSameAs(factory.made.get(0));
            assertThat(ctx.tensorParallel()).isSameAs(factory.made.get(1));
            assertThat(ctx.expertDataParallel()).isSameAs(edp);
            assertThat(factory.calls).hasSize(6);
            assertThat(ctx.embedding()).isSameAs(factory.made.get(5));
        }
        assertThat(factory.made).extracting(c -> c.closeCount).containsOnly(1);
    }

    @Test
    void closeIsIdempotentAndCommunicatorsAreGoneAfterIt() {
        RecordingGroupFactory factory = new RecordingGroupFactory(0);
        ParallelContext ctx = new ParallelContext(mesh, 0, factory);
        ctx.close();
        ctx.close();
        assertThat(factory.made).hasSize(6).extracting(c -> c.closeCount).containsOnly(1);
        assertThatThrownBy(ctx::dataParallel).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void everyRankAsksForItsOwnGroupsAndMembersAgree() {
        DeviceMesh m = new DeviceMesh(4, 2, 2, 2);
        Map<Integer, Call> byId = new HashMap<>();
        Map<Integer, Integer> requests = new HashMap<>();
        for (int r = 0; r < m.worldSize(); r++) {
            RecordingGroupFactory factory = new RecordingGroupFactory(r);
            try (ParallelContext ctx = new ParallelContext(m, r, factory)) {
                for (GroupKind kind : GroupKind.values()) {
                    MeshGroup g = m.group(kind, r);
                    assertThat(ctx.group(kind)).isEqualTo(g);
                    assertThat(ctx.communicator(kind).rank()).isEqualTo(g.groupRankOf(r));
                    assertThat(ctx.communicator(kind).size()).isEqualTo(g.size());
                }
            }
            for (Call call : factory.calls) {
                assertThat(call.ranks()).as("rank %d asks only for groups it is in", r).contains(r);
                Call earlier = byId.putIfAbsent(call.groupId(), call);
                assertThat(earlier == null ? call : earlier).as("group %d on rank %d", call.groupId(), r).isEqualTo(call);
                requests.merge(call.groupId(), 1, Integer::sum);
            }
        }
        // each multi-rank group is created by each of its members exactly once
        for (Call call : byId.values()) {
            assertThat(requests.get(call.groupId())).as(call.name()).isEqualTo(call.ranks().size());
        }
        long multiRankGroups = m.allGroups().stream().filter(g -> g.size() > 1).count();
        long embeddingGroups = (long) m.dp() * m.tp(); // one per (tp, dp) position: first and last stage
        assertThat(byId).hasSize((int) (multiRankGroups + embeddingGroups));
    }

    @Test
    void aFailingFactoryLeavesNothingOpen() {
        RecordingGroupFactory recording = new RecordingGroupFactory(5);
        IllegalStateException boom = new IllegalStateException("no route to rank 1");
        GroupFactory failsOnPipeline = (id, name, ranks) -> {
            if (name.startsWith("pp")) {
                throw boom;
            }
            return recording.create(id, name, ranks);
        };
        assertThatThrownBy(() -> new ParallelContext(mesh, 5, failsOnPipeline)).isSameAs(boom);
        assertThat(recording.made).hasSize(3).extracting(c -> c.closeCount).containsOnly(1);
    }

    @Test
    void aCommunicatorForTheWrongGroupIsRejected() {
        RecordingGroupFactory recording = new RecordingGroupFactory(5);
        GroupFactory swapsTpMembers = (id, name, ranks) -> {
            if (name.startsWith("tp")) {
                return recording.create(id, name, new int[] {5, 4});
            }
            return recording.create(id, name, ranks);
        };
        assertThatThrownBy(() -> new ParallelContext(mesh, 5, swapsTpMembers))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("group factory made a wrong communicator for tp[4,5] (id 10) on rank 5:"
                        + " group rank 0, expected 1");
        assertThat(recording.made).hasSize(2).extracting(c -> c.closeCount).containsOnly(1);

        GroupFactory tooSmall = (id, name, ranks) -> new FakeCommunicator(id, name, new int[] {5}, 0);
        assertThatThrownBy(() -> new ParallelContext(mesh, 5, tooSmall)).hasMessageEndingWith("size 1, expected 8");
        assertThatThrownBy(() -> new ParallelContext(mesh, 5, (id, name, ranks) -> null))
                .hasMessageEndingWith("got null");
    }

    @Test
    void aFailingCloseStillClosesTheRest() {
        RecordingGroupFactory recording = new RecordingGroupFactory(5);
        GroupFactory dpCloseFails = (id, name, ranks) -> {
            FakeCommunicator c = (FakeCommunicator) recording.create(id, name, ranks);
            if (!name.startsWith("dp")) {
                return c;
            }
            return new FakeCommunicator(id, name, ranks, c.rank()) {
                @Override
                public void close() {
                    c.close();
                    throw new IllegalStateException("socket already gone");
                }
            };
        };
        ParallelContext ctx = new ParallelContext(mesh, 5, dpCloseFails);
        assertThatThrownBy(ctx::close).hasMessage("socket already gone");
        assertThat(recording.made).hasSize(6).extracting(c -> c.closeCount).containsOnly(1); // with embed[1,5]
    }

    @Test
    void singleNeedsNoFactory() {
        try (ParallelContext ctx = ParallelContext.single()) {
            for (GroupKind kind : GroupKind.values()) {
                assertThat(ctx.communicator(kind)).isInstanceOf(SingleRankCommunicator.class);
                assertThat(ctx.communicator(kind).name()).isEqualTo(kind.prefix() + "[0]");
            }
            assertThat(ctx.world().size()).isEqualTo(1);
        }
    }

    @Test
    void aRankOutsideTheMeshIsRejected() {
        RecordingGroupFactory factory = new RecordingGroupFactory(8);
        assertThatThrownBy(() -> new ParallelContext(mesh, 8, factory)).hasMessageStartingWith("rank 8 outside");
        assertThat(factory.calls).isEmpty();
    }
}
