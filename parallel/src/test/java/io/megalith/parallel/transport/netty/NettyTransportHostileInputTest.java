package io.megalith.parallel.transport.netty;

import static io.megalith.parallel.transport.netty.TestSupport.SECRET;
import static io.megalith.parallel.transport.netty.TestSupport.assertExchange;
import static io.megalith.parallel.transport.netty.TestSupport.awaitLogLine;
import static io.megalith.parallel.transport.netty.TestSupport.deadline;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.esotericsoftware.kryo.kryo5.Kryo;
import com.esotericsoftware.kryo.kryo5.io.Output;
import io.megalith.comm.CommException;
import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import io.megalith.parallel.transport.PeerAddress;
import io.megalith.parallel.transport.netty.Control.Accept;
import io.netty.util.internal.PlatformDependent;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Garbage on a running rank's port: the connection is closed, nothing reaches a mailbox, memory does not
 * grow with declared lengths, and the real ranks keep working.
 */
class NettyTransportHostileInputTest {
    /** Also the handshake timeout: "closed quickly" below means well under it. */
    private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(2);
    private static final int LIMIT = TransportConfig.DEFAULT_HANDSHAKE_MAX_FRAME_BYTES;
    private static Cluster cluster;

    @BeforeAll
    static void startCluster() {
        cluster = Cluster.start(2, r -> TestSupport.cfg("hostile").withConnectTimeout(HANDSHAKE_TIMEOUT));
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
    }

    @Test
    void randomBytesAreRefused() {
        Random random = new Random(1);
        for (int i = 0; i < 5; i++) {
            byte[] junk = new byte[1 + random.nextInt(20_000)];
            random.nextBytes(junk);
            attackRank1(raw -> raw.write(junk), refused());
        }
    }

    @Test
    void hugeLengthPrefixIsRefusedAtOnceWithoutAllocating() {
        long heap = usedHeap();
        long direct = usedDirect();
        for (int prefix : new int[] {0x7fffffff, 0xffffffff, LIMIT + 1}) {
            // only the 4 prefix bytes are sent: a closed connection proves the rank did not wait for the body
            long ms = attackRank1(raw -> raw.writeInt(prefix), refused("frame too long", "exceeds the limit of " + LIMIT));
            assertThat(ms).isLessThan(HANDSHAKE_TIMEOUT.toMillis() / 2);
        }
        assertThat(usedDirect() - direct).as("direct memory growth").isLessThan(16 << 20);
        assertThat(usedHeap() - heap).as("heap growth").isLessThan(256 << 20);
    }

    @Test
    void frameAtTheLimitIsDecodedAndOneByteMoreIsNot() {
        byte[] body = new byte[LIMIT - 1]; // + type byte = LIMIT
        // at the limit: framed, then refused as a handshake because it is no Kryo message
        attackRank1(raw -> raw.frame(Frames.CONTROL, body), refused("malformed handshake"));
        attackRank1(raw -> raw.frame(Frames.CONTROL, new byte[LIMIT]), refused("frame too long", "frame of " + (LIMIT + 1) + " bytes"));
    }

    @Test
    void truncatedFrameIsClosed() {
        // peer hangs up mid-frame: closed at once, the partial frame released
        attackRank1(raw -> {
            raw.writeInt(1000);
            raw.write(new byte[] {Frames.CONTROL, 1, 2, 3});
            raw.shutdownOutput();
        }, "INFO", "closed before authenticating");
        // peer stalls mid-frame: closed by the handshake timeout
        long ms = attackRank1(raw -> {
            raw.writeInt(1000);
            raw.write(new byte[10]);
        }, refused("no complete handshake within " + HANDSHAKE_TIMEOUT.toMillis() + " ms"));
        assertThat(ms).isGreaterThan(HANDSHAKE_TIMEOUT.toMillis() / 2);
    }

    @Test
    void kryoPayloadNamingAnUnregisteredClassIsRefused() {
        Kryo permissive = new Kryo();
        permissive.setRegistrationRequired(false);
        Output out = new Output(1024);
        permissive.writeClassAndObject(out, new ArrayList<>(List.of("x")));
        byte[] byName = out.toBytes();
        attackRank1(raw -> raw.frame(Frames.CONTROL, byName), refused("malformed handshake", "class names are not accepted"));
        Output byId = new Output(16);
        byId.writeVarInt(999 + 2, true); // Kryo writes registered class ids + 2
        attackRank1(raw -> raw.frame(Frames.CONTROL, byId.toBytes()), refused("malformed handshake", "unregistered class ID: 999"));
        // a registered type whose byte array claims 2 GB inside a tiny frame
        Output hello = new Output(64);
        hello.writeVarInt(100 + 2, true);
        hello.writeInt(Handshake.VERSION);
        hello.writeVarInt(Integer.MAX_VALUE, true);
        attackRank1(raw -> raw.frame(Frames.CONTROL, hello.toBytes()), refused("malformed handshake", "field length 2147483647 out of bounds"));
    }

    /** Kryo registers String etc. in every instance; its String reader allocates the declared length up front. */
    @Test
    void kryoDefaultTypeWithAHugeDeclaredLengthIsRefusedWithoutAllocating() {
        long heap = usedHeap();
        Output str = new Output(16);
        str.writeVarInt(new Kryo().getRegistration(String.class).getId() + 2, true);
        str.writeVarIntFlag(true, Integer.MAX_VALUE, true); // "a UTF-8 string of 2^31 - 2 chars"
        str.writeByte('x');
        attackRank1(raw -> raw.frame(Frames.CONTROL, str.toBytes()), refused("malformed handshake", "not a control message"));
        assertThat(usedHeap() - heap).as("heap growth").isLessThan(256 << 20);
    }

    @Test
    void dataBeforeAuthenticationNeverReachesAMailbox() {
        attackRank1(raw -> raw.data(new MessageKey(0, 0, 0), new byte[100]), refused("not a handshake frame"));
        assertThat(cluster.rank(1).bufferedMessages(0)).isZero();
        assertThat(cluster.rank(1).bufferedMessages(1)).isZero();
    }

    /**
     * An authenticated peer: a data frame exactly at maxFrameBytes is delivered; one byte more fails that
     * peer (pending receive fails naming it) while the other connections keep working. The raw socket plays
     * rank 0 of a 3-rank job whose ranks 1 and 2 are real.
     */
    @Test
    void authenticatedPeerOverTheFrameLimitIsFailed() throws Exception {
        int max = 64 << 10;
        InJvmRendezvous rendezvous = new InJvmRendezvous(3, Duration.ofSeconds(10));
        List<CompletableFuture<NettyTransport>> real = new ArrayList<>();
        for (int r = 1; r <= 2; r++) {
            int rank = r;
            real.add(TestSupport.async(() -> NettyTransport.start(rank, 3,
                    TestSupport.cfg("hostile-auth").withMaxFrameBytes(max), rendezvous)));
        }
        List<PeerAddress> addrs = rendezvous.exchange(new PeerAddress(0, "127.0.0.1", 1));
        try (RawPeer to1 = new RawPeer(addrs.get(1).port()); RawPeer to2 = new RawPeer(addrs.get(2).port())) {
            assertThat(to1.handshake("hostile-auth", SECRET, 3, 0, 1)).isInstanceOf(Accept.class);
            assertThat(to2.handshake("hostile-auth", SECRET, 3, 0, 2)).isInstanceOf(Accept.class);
            NettyTransport r1 = real.get(0).get();
            NettyTransport r2 = real.get(1).get();
            try {
                byte[] atLimit = new byte[max - Frames.DATA_HEADER_BYTES];
                new Random(2).nextBytes(atLimit);
                to1.data(new MessageKey(0, 1, 0), atLimit);
                try (Message m = r1.receive(0, new MessageKey(0, 1, 0), deadline(5000))) {
                    assertThat(m.payload().mismatch(ByteBuffer.wrap(atLimit))).isEqualTo(-1);
                }
                CompletableFuture<Message> pending = TestSupport.async(() -> r1.receive(0, new MessageKey(0, 2, 0), deadline(10_000)));
                TestSupport.awaitTrue("receive posted", 5000, () -> r1.waitingReceives(0) == 1);
                long mark = TestSupport.logSize();
                to1.data(new MessageKey(0, 2, 0), new byte[atLimit.length + 1]);
                assertThat(pending).failsWithin(Duration.ofSeconds(2)).withThrowableThat().havingCause()
                        .isInstanceOf(CommException.class).withMessageContaining("rank 0 failed: frame too long");
                assertThat(r1.isAlive(0)).isFalse();
                assertThat(to1.millisUntilClosed(2000)).isNotNegative();
                awaitLogLine(mark, 2000, "WARN", "rank 1: rank 0 failed: frame too long");
                assertThatThrownBy(() -> r1.send(0, new MessageKey(0, 3, 0), ByteBuffer.allocate(1)).join())
                        .hasCauseInstanceOf(CommException.class);
                // the rest is unaffected: rank 2 still hears from "rank 0", and ranks 1 and 2 still talk
                to2.data(new MessageKey(0, 4, 0), new byte[] {42});
                try (Message m = r2.receive(0, new MessageKey(0, 4, 0), deadline(5000))) {
                    assertThat(m.payload().get()).isEqualTo((byte) 42);
                }
                assertExchange(r1, r2, 10_000);
            } finally {
                r1.close();
                r2.close();
            }
        }
    }

    /**
     * Connects to rank 1, runs {@code attack}, asserts the connection gets closed (and the log names the
     * reason, if given), then that the real ranks still exchange messages. Returns ms until closed.
     */
    private static long attackRank1(Consumer<RawPeer> attack, String... logged) {
        long mark = TestSupport.logSize();
        long ms;
        try (RawPeer raw = new RawPeer(cluster.rank(1).address().port())) {
            attack.accept(raw);
            ms = raw.millisUntilClosed(HANDSHAKE_TIMEOUT.toMillis() + 2000);
            assertThat(ms).as("connection closed by the rank").isNotNegative();
            List<String> parts = new ArrayList<>(List.of(logged));
            parts.add("rank 1: ");
            parts.add("/127.0.0.1:" + raw.localPort()); // the log names the remote address
            awaitLogLine(mark, 2000, parts.toArray(String[]::new));
        }
        assertThat(cluster.rank(1).isAlive(0)).isTrue();
        assertExchange(cluster.rank(0), cluster.rank(1), 1 << 20);
        return ms;
    }

    /** What the WARN line of a refusal contains, besides the address. */
    private static String[] refused(String... reason) {
        List<String> parts = new ArrayList<>(List.of("WARN", "refused connection from"));
        parts.addAll(List.of(reason));
        return parts.toArray(String[]::new);
    }

    private static long usedHeap() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static long usedDirect() {
        long netty = PlatformDependent.usedDirectMemory();
        long jdk = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(b -> b.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
        return Math.max(netty, 0) + jdk;
    }
}
