package io.megalith.parallel.transport.netty;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.PeerAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Unauthenticated connections are capped per rank and per remote address (raw sockets over loopback,
 * from several 127.x addresses); the job's own ranks still connect and all-reduce while the cap is full.
 */
class NettyTransportConnectionCapTest {
    private static final Duration INTERVAL = Duration.ofSeconds(2);
    /** 8 per rank, 4 per address; sockets may idle 30 s, far longer than any test here. */
    private static final HandshakeLimits LIMITS = new HandshakeLimits(8, 4, Duration.ofSeconds(30), INTERVAL);
    private static final Pattern CAP_LINE = Pattern.compile(
            "^(\\d\\d:\\d\\d:\\d\\d\\.\\d+) WARN .*rank 1: closed (\\d+) unauthenticated connections? at once", Pattern.MULTILINE);

    private static TransportConfig cfg(String job) {
        return TestSupport.cfg(job).withConnectTimeout(Duration.ofSeconds(30)).withHandshakeLimits(LIMITS);
    }

    @Test
    void connectionsOverTheCapAreClosedAtOnceAndLoggedOncePerInterval() throws Exception {
        List<RawPeer> held = new ArrayList<>();
        try (Cluster c = Cluster.start(2, r -> cfg("cap-log"))) {
            int port = c.rank(1).address().port();
            long mark = TestSupport.logSize();
            long burstStart = System.nanoTime();
            int refused = 0;
            // per address: 4 kept, the next ones closed
            refused += fill(port, "127.0.0.2", 4, 6, held);
            // per rank: 4 more from another address fill the 8; then even a fresh address is closed
            refused += fill(port, "127.0.0.3", 4, 2, held);
            refused += fill(port, "127.0.0.4", 0, 8, held);
            long burstMs = (System.nanoTime() - burstStart) / 1_000_000;
            assertThat(c.rank(1).unauthenticatedConnections()).isEqualTo(8);
            for (RawPeer p : held) assertThat(p.millisUntilClosed(1)).as("kept connection").isNegative();

            // the real ranks, authenticated before the flood, are not affected
            allReduce(c.rank(0), c.rank(1));

            TestSupport.sleep(INTERVAL.toMillis() + 500); // the end of the interval reports what it counted
            List<LocalTime> times = new ArrayList<>();
            int counted = 0;
            Matcher m = CAP_LINE.matcher(TestSupport.logSince(mark));
            while (m.find()) {
                times.add(LocalTime.parse(m.group(1)));
                counted += Integer.parseInt(m.group(2));
            }
            assertThat(counted).as("refusals counted in the log").isEqualTo(refused);
            // one line per interval, not one per socket: the burst spans at most a few intervals
            assertThat(times).hasSizeBetween(1, 2 + (int) (burstMs / INTERVAL.toMillis()));
            for (int i = 1; i < times.size(); i++) {
                assertThat(Duration.between(times.get(i - 1), times.get(i)).toMillis()).isGreaterThanOrEqualTo(INTERVAL.toMillis() - 20);
            }
            assertThat(TestSupport.logSince(mark)).contains("over the cap of 8 per rank", "over the cap of 4 per address");

            // authenticated or closed connections give their slot back
            held.remove(0).close();
            TestSupport.awaitTrue("slot released", 2000, () -> c.rank(1).unauthenticatedConnections() == 7);
            held.add(new RawPeer(port, "127.0.0.5"));
            assertThat(held.get(held.size() - 1).millisUntilClosed(300)).isNegative();
        } finally {
            held.forEach(RawPeer::close);
        }
    }

    /** Strangers on other hosts fill rank 1's cap before rank 0 dials: rank 0's reserved slot lets it in. */
    @Test
    void theJobsRanksConnectAndAllReduceWhileTheCapIsFull() throws Exception {
        List<RawPeer> held = new ArrayList<>();
        InJvmRendezvous rendezvous = new InJvmRendezvous(2, Duration.ofSeconds(10));
        CompletableFuture<NettyTransport> rank1 = TestSupport.async(() -> NettyTransport.start(1, 2, cfg("cap-full"), rendezvous));
        // the test publishes for rank 0 (on 127.0.0.1, where it will dial from) and learns where rank 1 listens
        PeerAddress addr1 = rendezvous.exchange(new PeerAddress(0, "127.0.0.1", 1)).get(1);
        try {
            fill(addr1.port(), "127.0.0.2", 4, 1, held);
            fill(addr1.port(), "127.0.0.3", 4, 1, held);
            fill(addr1.port(), "127.0.0.4", 0, 1, held); // the cap is full
            long start = System.nanoTime();
            try (NettyTransport r0 = NettyTransport.start(0, 2, cfg("cap-full"), mine -> List.of(mine, addr1));
                    NettyTransport r1 = rank1.get()) {
                assertThat((System.nanoTime() - start) / 1_000_000).as("ms to connect").isLessThan(10_000);
                // rank 0's own connection may still count for a moment after its side saw the handshake done
                TestSupport.awaitTrue("the strangers are all still there (8 unauthenticated)", 2000,
                        () -> r1.unauthenticatedConnections() == 8);
                allReduce(r0, r1);
            }
        } finally {
            held.forEach(RawPeer::close);
            if (!rank1.isDone()) rank1.cancel(true);
        }
    }

    /**
     * A stranger on rank 0's own host takes its reserved slot too: rank 0 is closed before the handshake,
     * dials again, and gets in as soon as a slot frees (not failing, not waiting for its connect timeout).
     */
    @Test
    void aRankClosedByTheCapDialsAgainUntilASlotFrees() throws Exception {
        List<RawPeer> held = new ArrayList<>();
        InJvmRendezvous rendezvous = new InJvmRendezvous(2, Duration.ofSeconds(10));
        CompletableFuture<NettyTransport> rank1 = TestSupport.async(() -> NettyTransport.start(1, 2, cfg("cap-redial"), rendezvous));
        PeerAddress addr1 = rendezvous.exchange(new PeerAddress(0, "127.0.0.1", 1)).get(1);
        try {
            fill(addr1.port(), "127.0.0.2", 4, 0, held);
            fill(addr1.port(), "127.0.0.1", 5, 1, held); // 4 per address + rank 0's reserved slot
            CompletableFuture<NettyTransport> rank0 = TestSupport.async(
                    () -> NettyTransport.start(0, 2, cfg("cap-redial"), mine -> List.of(mine, addr1)));
            TestSupport.sleep(1000);
            assertThat(rank0).as("rank 0 cannot get in while its slot is taken").isNotDone();
            long freed = System.nanoTime();
            held.remove(held.size() - 1).close(); // a stranger on 127.0.0.1 goes away
            try (NettyTransport r0 = rank0.get(); NettyTransport r1 = rank1.get()) {
                assertThat((System.nanoTime() - freed) / 1_000_000).as("ms from the free slot to the mesh").isLessThan(5000);
                allReduce(r0, r1);
            }
        } finally {
            held.forEach(RawPeer::close);
        }
    }

    /** Opens {@code kept} connections that must stay open, then {@code closed} ones that must be closed promptly. */
    private static int fill(int port, String from, int kept, int closed, List<RawPeer> held) {
        for (int i = 0; i < kept; i++) {
            RawPeer p = new RawPeer(port, from);
            held.add(p);
            assertThat(p.millisUntilClosed(200)).as("connection %d from %s kept", i, from).isNegative();
        }
        for (int i = 0; i < closed; i++) {
            try (RawPeer p = new RawPeer(port, from)) {
                assertThat(p.millisUntilClosed(1000)).as("connection over the cap from %s closed at once", from).isNotNegative();
            }
        }
        return closed;
    }

    /** A real all-reduce of 64 Ki floats over the two ranks: each contributes rank + 1, so every element is 3. */
    private static void allReduce(NettyTransport a, NettyTransport b) throws Exception {
        List<CompletableFuture<float[]>> out = new ArrayList<>();
        for (NettyTransport t : List.of(a, b)) {
            out.add(TestSupport.async(() -> {
                try (GroupCommunicator g = new GroupCommunicator(t, 0, "world", new int[] {0, 1}, CommOptions.defaults())) {
                    ByteBuffer buf = ByteBuffer.allocateDirect(4 << 16).order(ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < 1 << 16; i++) buf.putFloat(i * 4, t.rank() + 1);
                    g.allReduce(buf, ElementType.F32, ReduceOp.SUM);
                    float[] r = new float[1 << 16];
                    buf.asFloatBuffer().get(r);
                    return r;
                }
            }));
        }
        for (CompletableFuture<float[]> f : out) {
            float[] r = f.get();
            for (float v : r) assertThat(v).isEqualTo(3f);
        }
    }
}
