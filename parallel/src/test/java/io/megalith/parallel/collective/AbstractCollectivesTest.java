package io.megalith.parallel.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.CommException;
import io.megalith.comm.ElementType;
import io.megalith.comm.Handle;
import io.megalith.comm.ReduceOp;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Results of every collective against a reference, over any transport (see {@link CommTestBase}). */
abstract class AbstractCollectivesTest extends CommTestBase {

    static Stream<Arguments> reductions() {
        List<Arguments> a = new ArrayList<>();
        for (int n = 1; n <= 4; n++) {
            for (ElementType t : ElementType.values()) {
                for (ReduceOp op : ReduceOp.values()) {
                    a.add(Arguments.of(n, t, op));
                }
            }
        }
        return a.stream();
    }

    static Stream<Arguments> gathers() {
        return IntStream.rangeClosed(1, 4).boxed()
                .flatMap(n -> Stream.of(ElementType.values()).map(t -> Arguments.of(n, t)));
    }

    /** Edge sizes, sizes around SMALL's latency threshold and chunk size (per segment too), and a large odd one. */
    static long[] sizes(int n, int elemBytes) {
        long small = SMALL.smallMessageBytes() / elemBytes;
        long chunk = SMALL.chunkBytes() / elemBytes;
        return LongStream.of(0, 1, 2, 3, 7, 1000, small - 1, small, small + 1, chunk - 1, chunk, chunk + 1,
                n * chunk - 1, n * chunk, n * chunk + 1, 1_000_003).toArray();
    }

    @ParameterizedTest(name = "n={0} {1} {2}")
    @MethodSource("reductions")
    void allReduceMatchesReferenceAndIsBitIdenticalAcrossRanks(int n, ElementType type, ReduceOp op) {
        GroupCommunicator[] g = world(n).all(SMALL);
        for (long count : sizes(n, type.bytes)) {
            List<ByteBuffer> inputs = IntStream.range(0, n).mapToObj(r -> random(type, count, 31L * r + count)).toList();
            ByteBuffer want = reference(inputs, type, op);
            List<ByteBuffer> got = onRanks(n, r -> {
                ByteBuffer buf = copy(inputs.get(r));
                g[r].allReduce(buf, type, op);
                assertThat(buf.position()).isZero();
                return buf;
            });
            for (int r = 0; r < n; r++) {
                String what = "all_reduce " + type + " " + op + " of " + count + " on rank " + r;
                assertMatches(got.get(r), want, type, op, what);
                assertSameBytes(got.get(r), got.get(0), what + " vs rank 0");
            }
        }
    }

    static Stream<Arguments> bf16Reductions() {
        return IntStream.rangeClosed(1, 4).boxed()
                .flatMap(n -> Stream.of(ReduceOp.values()).map(op -> Arguments.of(n, op)));
    }

    /**
     * bf16 on the wire: MAX is exact up to the rounding of its result (rounding is monotonic), sums are
     * within the n rounding steps of a bf16 value (|partial| < n, half an ulp = 2^-8 relative each); the
     * results are bit-identical across ranks.
     */
    @ParameterizedTest(name = "n={0} {1}")
    @MethodSource("bf16Reductions")
    void bf16WireAllReduceIsCloseAndBitIdenticalAcrossRanks(int n, ReduceOp op) {
        GroupCommunicator[] g = world(n).all(SMALL.withBf16Wire(true));
        for (long count : sizes(n, 4)) {
            List<ByteBuffer> inputs = IntStream.range(0, n).mapToObj(r -> random(ElementType.F32, count, 7L * r + count)).toList();
            ByteBuffer want = reference(inputs, ElementType.F32, op);
            List<ByteBuffer> got = onRanks(n, r -> {
                ByteBuffer buf = copy(inputs.get(r));
                g[r].allReduce(buf, ElementType.F32, op);
                return buf;
            });
            String what = "bf16 all_reduce " + op + " of " + count;
            float tolerance = n == 1 ? 0 : n * n / 256f / (op == ReduceOp.AVG ? n : 1);
            for (int r = 0; r < n; r++) {
                assertSameBytes(got.get(r), got.get(0), what + " rank " + r + " vs rank 0");
            }
            ByteBuffer res = got.get(0).duplicate().order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) {
                float exact = want.getFloat(4 * i);
                float x = res.getFloat(4 * i);
                if (op == ReduceOp.MAX && n > 1) {
                    assertThat(x).as(what + " element " + i).isEqualTo(Reducer.fromBf16(Reducer.toBf16(exact)));
                } else if (!(Math.abs(x - exact) <= tolerance)) {
                    assertThat(x).as(what + " element " + i).isEqualTo(exact);
                }
            }
        }
    }

    @ParameterizedTest(name = "n={0} {1} {2}")
    @MethodSource("reductions")
    void reduceScatterLeavesEachRankItsReducedPart(int n, ElementType type, ReduceOp op) {
        GroupCommunicator[] g = world(n).all(SMALL);
        for (long count : sizes(n, type.bytes)) {
            List<ByteBuffer> inputs = IntStream.range(0, n).mapToObj(r -> random(type, count, 17L * r + count)).toList();
            ByteBuffer want = reference(inputs, type, op);
            List<ByteBuffer> got = onRanks(n, r -> {
                ByteBuffer in = copy(inputs.get(r));
                ByteBuffer out = ByteBuffer.allocate(partBytes(g[r], count, r, type)).order(ByteOrder.LITTLE_ENDIAN);
                g[r].reduceScatter(in, out, type, op);
                assertSameBytes(in, inputs.get(r), "reduce_scatter input left unchanged");
                return out;
            });
            for (int r = 0; r < n; r++) {
                assertMatches(got.get(r), part(want, g[r], count, r, type), type, op,
                        "reduce_scatter " + type + " " + op + " of " + count + " on rank " + r);
            }
        }
    }

    @ParameterizedTest(name = "n={0} {1}")
    @MethodSource("gathers")
    void allGatherPutsEveryPartInPlace(int n, ElementType type) {
        GroupCommunicator[] g = world(n).all(SMALL);
        for (long count : sizes(n, type.bytes)) {
            ByteBuffer whole = random(type, count, count);
            List<ByteBuffer> got = onRanks(n, r -> {
                ByteBuffer out = random(type, count, -1); // garbage to be overwritten
                g[r].allGather(copy(part(whole, g[r], count, r, type)), out, type);
                return out;
            });
            for (int r = 0; r < n; r++) {
                assertSameBytes(got.get(r), whole, "all_gather " + type + " of " + count + " on rank " + r);
            }
        }
    }

    /** ZeRO gathers updated pieces in place: each rank's input is its own segment of the output. */
    @ParameterizedTest(name = "n={0} {1}")
    @MethodSource("gathers")
    void allGatherWorksInPlace(int n, ElementType type) {
        GroupCommunicator[] g = world(n).all(SMALL);
        for (long count : sizes(n, type.bytes)) {
            ByteBuffer whole = random(type, count, count);
            List<ByteBuffer> got = onRanks(n, r -> {
                ByteBuffer out = random(type, count, -1); // garbage to be overwritten, but for this rank's part
                ByteBuffer own = part(out, g[r], count, r, type);
                own.duplicate().put(part(whole, g[r], count, r, type));
                g[r].allGather(own, out, type);
                return out;
            });
            for (int r = 0; r < n; r++) {
                assertSameBytes(got.get(r), whole, "in-place all_gather " + type + " of " + count + " on rank " + r);
            }
        }
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void broadcastFromEveryRoot(int n) {
        GroupCommunicator[] g = world(n).all(SMALL);
        int small = SMALL.smallMessageBytes();
        int chunk = SMALL.chunkBytes();
        for (long bytes : new long[] {0, 1, 2, 3, 7, 1000, small - 1, small, small + 1, chunk - 1, chunk, chunk + 1,
                3L * chunk + 5, 1_000_003}) {
            for (int root = 0; root < n; root++) {
                int from = root;
                ByteBuffer data = random(ElementType.I32, (bytes + 3) / 4, bytes + root).limit((int) bytes);
                List<ByteBuffer> got = onRanks(n, r -> {
                    ByteBuffer buf = r == from ? copy(data) : ByteBuffer.allocate((int) bytes);
                    g[r].broadcast(buf, from);
                    return buf;
                });
                for (int r = 0; r < n; r++) {
                    assertSameBytes(got.get(r), data, "broadcast of " + bytes + " from " + root + " on rank " + r);
                }
            }
        }
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allToAllWithVariableSizesIncludingZero(int n) {
        GroupCommunicator[] g = world(n).all(SMALL);
        for (int round = 0; round < 3; round++) {
            int seed = round;
            // rank i sends rank j (i * 7 + j * 13 + round) % 5 * 1000 bytes (zero when that is 0), plus a big one
            List<ByteBuffer[]> got = onRanks(n, i -> g[i].allToAll(
                    IntStream.range(0, n).mapToObj(j -> payload(i, j, seed)).toArray(ByteBuffer[]::new)));
            for (int j = 0; j < n; j++) {
                assertThat(got.get(j)).hasSize(n);
                for (int i = 0; i < n; i++) {
                    assertSameBytes(got.get(j)[i], payload(i, j, seed), "all_to_all " + i + " -> " + j);
                }
            }
        }
    }

    private static ByteBuffer payload(int from, int to, int round) {
        int bytes = from == 1 && to == 0 && round == 2 ? 300_001 : (from * 7 + to * 13 + round) % 5 * 1000;
        return random(ElementType.I32, (bytes + 3) / 4, from * 100 + to * 10 + round).limit(bytes);
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void barrierReleasesNoRankBeforeAllEntered(int n) {
        GroupCommunicator[] g = world(n).all(SMALL);
        AtomicInteger entered = new AtomicInteger();
        List<Integer> seen = onRanks(n, r -> {
            sleep(40L * r);
            entered.incrementAndGet();
            g[r].barrier();
            return entered.get();
        });
        assertThat(seen).containsOnly(n);
    }

    @Test
    void sendRecvMatchesTagsReceivedOutOfOrderAndKeepsOrderPerTag() {
        GroupCommunicator[] g = world(2).all(SMALL);
        onRanks(2, r -> {
            if (r == 0) {
                for (int tag : new int[] {1, 2, 3, 2}) {
                    g[0].send(ints(tag * 10, tag * 10 + 1, 5), 1, tag);
                }
            } else {
                ByteBuffer[] got = new ByteBuffer[4];
                int[] order = {3, 2, 1, 2};
                for (int k = 0; k < 4; k++) {
                    got[k] = ByteBuffer.allocate(12);
                    g[1].recv(got[k], 0, order[k]);
                }
                assertSameBytes(got[0], ints(30, 31, 5), "tag 3");
                assertSameBytes(got[1], ints(20, 21, 5), "first tag 2");
                assertSameBytes(got[2], ints(10, 11, 5), "tag 1");
                assertSameBytes(got[3], ints(20, 21, 5), "second tag 2");
            }
            return null;
        });
    }

    @Test
    void asyncExchangeInBothDirectionsDoesNotDeadlock() {
        GroupCommunicator[] g = world(3).group(7, new int[] {2, 0}, SMALL);
        onRanks(2, r -> {
            ByteBuffer in = ByteBuffer.allocate(400_000);
            Handle recv = g[r].recvAsync(in, 1 - r, 9); // both receive first, then send
            ByteBuffer out = random(ElementType.I64, 50_000, r);
            Handle send = g[r].sendAsync(out, 1 - r, 9);
            send.await();
            recv.await();
            assertSameBytes(in, random(ElementType.I64, 50_000, 1 - r), "received");
            return null;
        });
    }

    @Test
    void recvOfWrongSizeNamesThePeer() {
        GroupCommunicator[] g = world(2).all(SMALL);
        onRanks(2, r -> {
            if (r == 0) {
                g[0].send(ints(1, 2, 3), 1, 0);
            } else {
                assertThatThrownBy(() -> g[1].recv(ByteBuffer.allocate(8), 0, 0))
                        .isInstanceOf(CommException.class)
                        .hasMessageContaining("recv on group g[0,1]")
                        .hasMessageContaining("rank 0 sent 12 bytes where 8 were expected");
            }
            return null;
        });
    }

    @Test
    void asyncHandlesCompleteOnlyWhenPeersTakePartAndMayBeAwaitedInAnyOrder() {
        GroupCommunicator[] g = world(2).all(SMALL);
        CountDownLatch go = new CountDownLatch(1);
        onRanks(2, r -> {
            if (r == 1) {
                await(go);
            }
            ByteBuffer small = ints(r + 1, 2, 3);
            ByteBuffer large = random(ElementType.I32, 10_000, 5 + r);
            ByteBuffer gathered = ByteBuffer.allocate(4 * 4);
            Handle h1 = g[r].allReduceAsync(small, ElementType.I32, ReduceOp.SUM);
            Handle h2 = g[r].allReduceAsync(large, ElementType.I32, ReduceOp.MAX);
            Handle h3 = g[r].allGatherAsync(ints(r, r), gathered, ElementType.I32);
            if (r == 0) {
                sleep(50);
                assertThat(h1.isDone()).as("done before rank 1 took part").isFalse();
                go.countDown();
            }
            h3.await();
            h2.await();
            h1.await();
            assertThat(h1.isDone() && h2.isDone() && h3.isDone()).isTrue();
            assertSameBytes(small, ints(3, 4, 6), "sum");
            assertSameBytes(gathered, ints(0, 0, 1, 1), "gather");
            assertSameBytes(large, reference(List.of(random(ElementType.I32, 10_000, 5),
                    random(ElementType.I32, 10_000, 6)), ElementType.I32, ReduceOp.MAX), "max");
            return null;
        });
    }

    /**
     * A blocking call runs on the caller's thread only when nothing of its group is queued or running;
     * otherwise it waits its turn behind the async operations issued before it (same seq order on all ranks).
     */
    @Test
    void blockingCallsIssuedBehindAsyncOnesRunInIssueOrder() {
        GroupCommunicator[] g = world(3).all(SMALL);
        onRanks(3, r -> {
            for (int iter = 0; iter < 20; iter++) {
                if (r == iter % 3) {
                    sleep(iter % 2 == 0 ? 20 : 0); // a late rank: the others' blocking calls wait for it
                }
                ByteBuffer ring = fill(5_000, r, iter); // above SMALL's threshold: the ring
                ByteBuffer direct = fill(10, r, iter + 100);
                ByteBuffer blocking = fill(3_000, r, iter + 200);
                Handle h1 = g[r].allReduceAsync(ring, ElementType.I32, ReduceOp.SUM);
                Handle h2 = g[r].allReduceAsync(direct, ElementType.I32, ReduceOp.MAX);
                g[r].allReduce(blocking, ElementType.I32, ReduceOp.SUM); // queued behind h1 and h2
                assertThat(h1.isDone() && h2.isDone()).as("earlier operations finished first").isTrue();
                g[r].barrier(); // the group is idle again: this one runs on this thread
                ByteBuffer inline = fill(7, r, iter + 300);
                g[r].allReduce(inline, ElementType.I32, ReduceOp.SUM);
                String where = "rank " + r + " iteration " + iter;
                assertSameBytes(ring, sumOverRanks(5_000, 3, iter), where + " ring");
                assertSameBytes(direct, fill(10, 2, iter + 100), where + " max"); // values grow with the rank
                assertSameBytes(blocking, sumOverRanks(3_000, 3, iter + 200), where + " blocking");
                assertSameBytes(inline, sumOverRanks(7, 3, iter + 300), where + " inline");
            }
            return null;
        });
    }

    private static ByteBuffer sumOverRanks(int size, int n, int iter) {
        ByteBuffer want = ByteBuffer.allocate(4 * size).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < size; i++) {
            int sum = 0;
            for (int g = 0; g < n; g++) {
                sum += value(g, iter, i);
            }
            want.putInt(sum);
        }
        return want.flip();
    }

    /**
     * A mesh of 4 ranks as 2 x 2 (dp x tp) plus the world: every rank drives its three communicators from
     * three threads at once, issuing several async ops before awaiting them, on small and ring-sized buffers.
     */
    @Test
    void communicatorsOfOverlappingGroupsRunConcurrently() {
        World w = world(4);
        int[][] groups = {{0, 2}, {1, 3}, {0, 1}, {2, 3}, {0, 1, 2, 3}};
        List<GroupCommunicator[]> comms = new ArrayList<>();
        for (int i = 0; i < groups.length; i++) {
            comms.add(w.group(i + 1, groups[i], SMALL));
        }
        List<Runnable> drivers = new ArrayList<>();
        for (int gi = 0; gi < groups.length; gi++) {
            for (int member = 0; member < groups[gi].length; member++) {
                int[] ranks = groups[gi];
                GroupCommunicator c = comms.get(gi)[member];
                drivers.add(() -> drive(c, ranks));
            }
        }
        onRanks(drivers.size(), i -> {
            drivers.get(i).run();
            return null;
        });
    }

    private static void drive(GroupCommunicator c, int[] ranks) {
        int me = ranks[c.rank()];
        for (int iter = 0; iter < 15; iter++) {
            int size = iter % 2 == 0 ? 10 : 5_000; // 5000 ints > SMALL's threshold: the ring
            ByteBuffer a = fill(size, me, iter);
            ByteBuffer b = fill(size, me, iter + 100);
            ByteBuffer gathered = ByteBuffer.allocate(4 * ranks.length * 3);
            Handle ha = c.allReduceAsync(a, ElementType.I32, ReduceOp.SUM);
            Handle hg = c.allGatherAsync(ints(me, iter, -me), gathered, ElementType.I32);
            Handle hb = c.allReduceAsync(b, ElementType.I32, ReduceOp.SUM);
            hb.await();
            hg.await();
            ha.await();
            ByteBuffer wantA = ByteBuffer.allocate(4 * size).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer wantB = ByteBuffer.allocate(4 * size).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer wantG = ByteBuffer.allocate(4 * ranks.length * 3).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < size; i++) {
                int sa = 0;
                int sb = 0;
                for (int g : ranks) {
                    sa += value(g, iter, i);
                    sb += value(g, iter + 100, i);
                }
                wantA.putInt(sa);
                wantB.putInt(sb);
            }
            for (int g : ranks) {
                wantG.putInt(g).putInt(iter).putInt(-g);
            }
            String where = c.name() + " rank " + me + " iteration " + iter;
            assertSameBytes(a, wantA.flip(), where + " a");
            assertSameBytes(b, wantB.flip(), where + " b");
            assertSameBytes(gathered, wantG.flip(), where + " gathered");
            if (iter % 5 == 0) {
                c.barrier();
            }
        }
    }

    private static int value(int globalRank, int iter, int i) {
        return globalRank * 1_000_000 + iter * 1000 + i;
    }

    private static ByteBuffer fill(int size, int globalRank, int iter) {
        ByteBuffer b = ByteBuffer.allocate(4 * size).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < size; i++) {
            b.putInt(value(globalRank, iter, i));
        }
        return b.flip();
    }

    @Test
    void buffersAreReadFromPositionToLimitAsLittleEndianWhateverTheirOrderFlag() {
        GroupCommunicator[] g = world(3).all(SMALL);
        for (int count : new int[] {5, 3001}) { // latency path and ring
            List<ByteBuffer> inputs = IntStream.range(0, 3).mapToObj(r -> random(ElementType.F32, count, r)).toList();
            ByteBuffer want = reference(inputs, ElementType.F32, ReduceOp.MAX);
            List<ByteBuffer> got = onRanks(3, r -> {
                ByteBuffer whole = ByteBuffer.allocateDirect(4 * count + 16).order(ByteOrder.BIG_ENDIAN);
                whole.putLong(-1L).put(inputs.get(r).duplicate()).putLong(-1L).clear();
                ByteBuffer view = whole.duplicate().position(8).limit(8 + 4 * count);
                g[r].allReduce(view, ElementType.F32, ReduceOp.MAX);
                assertThat(view.position()).isEqualTo(8);
                assertThat(view.limit()).isEqualTo(8 + 4 * count);
                assertThat(whole.getLong(0)).isEqualTo(-1L);
                assertThat(whole.getLong(8 + 4 * count)).isEqualTo(-1L);
                return view;
            });
            for (ByteBuffer b : got) {
                assertSameBytes(b, want, "max of " + count);
            }
        }
    }

    @Test
    void sizesThatDisagreeWithTheGroupAreRejected() {
        GroupCommunicator[] g = world(2).all(SMALL);
        assertThatThrownBy(() -> g[0].allReduceAsync(ByteBuffer.allocate(6), ElementType.F32, ReduceOp.SUM))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("6 bytes");
        // 5 elements over 2 ranks: rank 0 owns [0, 2), rank 1 owns [2, 5)
        assertThatThrownBy(() -> g[1].reduceScatterAsync(ByteBuffer.allocate(20), ByteBuffer.allocate(8),
                ElementType.I32, ReduceOp.SUM)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected 12");
        assertThatThrownBy(() -> g[0].broadcastAsync(ByteBuffer.allocate(4), 2))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(g[1].globalRank(1)).isEqualTo(1);
        assertThat(g[1].partStart(5, 1)).isEqualTo(2);
    }

    // ---- helpers ----

    static int partBytes(GroupCommunicator c, long count, int r, ElementType type) {
        return Math.toIntExact((c.partStart(count, r + 1) - c.partStart(count, r)) * type.bytes);
    }

    static ByteBuffer part(ByteBuffer whole, GroupCommunicator c, long count, int r, ElementType type) {
        int from = Math.toIntExact(c.partStart(count, r) * type.bytes);
        return whole.duplicate().position(from).limit(from + partBytes(c, count, r, type)).slice()
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    static ByteBuffer ints(int... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : v) {
            b.putInt(x);
        }
        return b.flip();
    }
}
