package io.megalith.parallel.transport.netty;

import static io.megalith.parallel.transport.netty.TestSupport.SECRET;
import static io.megalith.parallel.transport.netty.TestSupport.WRONG_SECRET;
import static io.megalith.parallel.transport.netty.TestSupport.assertExchange;
import static io.megalith.parallel.transport.netty.TestSupport.assertNoSecretIn;
import static io.megalith.parallel.transport.netty.TestSupport.awaitLogLine;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.PeerAddress;
import io.megalith.parallel.transport.netty.Control.Accept;
import io.megalith.parallel.transport.netty.Control.Reject;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Only ranks holding the job's secret and id get in; refusals are logged with address and reason, never the secret. */
class NettyTransportAuthTest {
    private static final Duration SHORT = Duration.ofMillis(1500);
    private static final long START = TestSupport.logSize();

    @Test
    void rankWithWrongSecretCannotJoinAndTheOthersNameIt() {
        long mark = TestSupport.logSize();
        List<Object> out = TestSupport.startAll(3, r -> TransportConfig.of("auth-secret", r == 1 ? WRONG_SECRET : SECRET)
                .withConnectTimeout(SHORT), TestSupport.rendezvous(3));
        try {
            // rank 0 dialled rank 1, which could not verify its proof and refused it
            assertThat(out.get(0)).isInstanceOf(CommException.class);
            assertThat(((CommException) out.get(0)).peer()).isEqualTo(1);
            // the refusal arrives as rank 1's reject message, or (when the close overtakes it) as a closed handshake
            // (on a loaded machine the handshake, or rank 0's whole connect phase, may also simply run out of time:
            // still naming rank 1, not hanging)
            assertThat(((Throwable) out.get(0)).getMessage()).satisfiesAnyOf(
                    m -> assertThat(m).contains("rank 1 refused the connection (its log says why"),
                    m -> assertThat(m).contains("rank 1 closed the connection during the handshake"),
                    m -> assertThat(m).contains("no complete handshake within"),
                    m -> assertThat(m).contains("ranks [1] did not connect and authenticate within 1500 ms"));
            // rank 1 dialled rank 2, which refused its proof
            assertThat(out.get(1)).isInstanceOf(CommException.class);
            assertThat(((CommException) out.get(1)).peer()).isEqualTo(2);
            // rank 2 is never dialled by an authentic rank 1 and gives up naming it
            assertThat(out.get(2)).isInstanceOf(CommTimeoutException.class);
            assertThat(((CommException) out.get(2)).peer()).isEqualTo(1);
            // rank 0 may or may not have finished its handshake with rank 2 before it gave up: [1] or [0, 1]
            assertThat(((Throwable) out.get(2))).hasMessageContaining("did not connect and authenticate within 1500 ms")
                    .hasMessageContaining("rank 1: refused a connection claiming to be rank 1: authentication failed");
            String line = awaitLogLine(mark, 2000, "WARN", "rank 2: refused connection from /127.0.0.1:", "authentication failed",
                    "proof of rank 1 does not match");
            assertThat(line).contains("wrong secret?");
            for (Object o : out) if (o instanceof Throwable t) assertNoSecretIn(t.toString());
        } finally {
            TestSupport.closeAll(out);
        }
    }

    @Test
    void rankWithAnotherJobIdCannotJoin() {
        long mark = TestSupport.logSize();
        // ranks 1 and 2 wait longer than rank 0's refused attempt can take on a loaded machine
        List<Object> out = TestSupport.startAll(3, r -> TransportConfig.of(r == 0 ? "job-B" : "job-A", SECRET)
                .withConnectTimeout(r == 0 ? SHORT : SHORT.multipliedBy(4)), TestSupport.rendezvous(3));
        try {
            assertThat(out.get(0)).isInstanceOf(CommException.class);
            assertThat(((CommException) out.get(0)).peer()).isIn(1, 2);
            // the refusal does not say why (an unauthenticated peer must not learn that the job id was wrong) ...
            assertThat(((Throwable) out.get(0))).hasMessageContaining("refused the connection (its log says why")
                    .hasMessageNotContaining("mismatch");
            // rank 0 dials 1 and 2 at once and gives up at the first refusal, so its hello may never reach the other
            // one: the rank that refused it names the mismatch, and either may be the first
            int named = 0;
            for (int r : new int[] {1, 2}) {
                assertThat(out.get(r)).isInstanceOf(CommTimeoutException.class);
                assertThat(((CommException) out.get(r)).peer()).isEqualTo(0);
                assertThat(((Throwable) out.get(r))).hasMessageContaining("ranks [0] did not connect");
                named += ((Throwable) out.get(r)).getMessage().contains("claiming to be rank 0: job id mismatch") ? 1 : 0;
            }
            assertThat(named).as("ranks whose timeout names rank 0's refused claim").isGreaterThanOrEqualTo(1);
            awaitLogLine(mark, 2000, "WARN", "refused connection from /127.0.0.1:", "job id mismatch (peer sent 'job-B')");
        } finally {
            TestSupport.closeAll(out);
        }
    }

    /** A socket that plays rank 0 with a forged proof is refused; the real rank 0 joins afterwards. */
    @Test
    void rawSocketWithBadHmacIsRefusedAndTheRealRankStillJoins() throws Exception {
        InJvmRendezvous rendezvous = new InJvmRendezvous(2, Duration.ofSeconds(10));
        CompletableFuture<NettyTransport> rank1 = TestSupport.async(
                () -> NettyTransport.start(1, 2, TestSupport.cfg("auth-raw"), rendezvous));
        // the test publishes for rank 0 and so learns where rank 1 listens
        PeerAddress addr1 = rendezvous.exchange(new PeerAddress(0, "127.0.0.1", 1)).get(1);
        long mark = TestSupport.logSize();
        try (RawPeer raw = new RawPeer(addr1.port())) {
            Object answer = raw.handshake("auth-raw", WRONG_SECRET, 2, 0, 1);
            assertThat(answer).isInstanceOf(Reject.class);
            assertThat(((Reject) answer).reason()).isEqualTo(PeerHandler.REFUSAL);
            assertThat(raw.millisUntilClosed(2000)).isNotNegative();
            awaitLogLine(mark, 2000, "WARN", "rank 1: refused connection from /127.0.0.1:" + raw.localPort(), "authentication failed");
        }
        assertThat(rank1).isNotDone();
        NettyTransport rank0 = NettyTransport.start(0, 2, TestSupport.cfg("auth-raw"), mine -> List.of(mine, addr1));
        try (NettyTransport r1 = rank1.get()) {
            assertExchange(rank0, r1, 1000);
        } finally {
            rank0.close();
        }
    }

    @Test
    void authenticHandshakeClaimingABadOrTakenRankIsRefused() {
        try (Cluster c = Cluster.start(3, "auth-claims")) {
            int port = c.rank(1).address().port();
            long mark = TestSupport.logSize();
            try (RawPeer raw = new RawPeer(port)) { // right secret, but rank 0 is already connected
                Object answer = raw.handshake("auth-claims", SECRET, 3, 0, 1);
                assertThat(answer).isInstanceOf(Reject.class).isNotInstanceOf(Accept.class);
                assertThat(((Reject) answer).reason()).isEqualTo(PeerHandler.REFUSAL);
            }
            for (int[] claim : new int[][] {{7, 1, 3}, {-1, 1, 3}, {2, 1, 3}, {0, 2, 3}, {0, 1, 4}}) { // from, to, world
                try (RawPeer raw = new RawPeer(port)) {
                    assertThat(raw.handshake("auth-claims", SECRET, claim[2], claim[0], claim[1])).isInstanceOf(Reject.class);
                    assertThat(raw.millisUntilClosed(2000)).isNotNegative();
                }
            }
            String log = TestSupport.logSince(mark);
            assertThat(log).contains("rank 0 is already connected","rank 7 out of range [0, 3)", "rank -1 out of range", "rank 2 may not dial rank 1",
                    "hello addressed to rank 2, this is rank 1", "world size mismatch (peer has 4, this job 3)");
            for (int a = 0; a < 3; a++) for (int b = a + 1; b < 3; b++) assertExchange(c.rank(a), c.rank(b), 4096);
        }
    }

    @Test
    void configNeverShowsTheSecret() {
        TransportConfig cfg = TestSupport.cfg("auth-config");
        assertNoSecretIn(cfg.toString());
        assertThat(cfg.toString()).contains("secret=<redacted>");
        byte[] copy = cfg.secret();
        copy[0] ^= 1;
        assertThat(cfg.secret()).isEqualTo(SECRET); // callers cannot change the config's secret
    }

    @AfterAll
    static void noSecretInAnyLog() {
        assertNoSecretIn(TestSupport.logSince(START));
    }
}
