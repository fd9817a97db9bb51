package io.megalith.parallel.transport.netty;

import static io.megalith.parallel.transport.netty.TestSupport.SECRET;
import static io.megalith.parallel.transport.netty.TestSupport.assertExchange;
import static io.megalith.parallel.transport.netty.TestSupport.awaitTrue;
import static io.megalith.parallel.transport.netty.TestSupport.deadline;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Dead and silent peers are reported quickly and by rank; close() leaves no threads behind. */
class NettyTransportFailureTest {
    private static final MessageKey KEY = new MessageKey(3, 1, 0);

    @Test
    void peerClosingWhileWeWaitFailsTheWaiterNamingIt() throws Exception {
        try (Cluster c = Cluster.start(3, "fail-close")) {
            NettyTransport r0 = c.rank(0);
            CompletableFuture<Object> waiter = TestSupport.async(() -> r0.receive(1, KEY, deadline(20_000)));
            awaitTrue("receive posted", 5000, () -> r0.waitingReceives(1) == 1);
            long t0 = System.nanoTime();
            c.rank(1).close();
            CommException e = failure(waiter, 2000);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertThat(ms).as("ms until the waiter failed").isLessThan(500);
            assertThat(e).isNotInstanceOf(CommTimeoutException.class).hasMessageContaining("rank 1 disconnected");
            assertThat(e.peer()).isEqualTo(1);
            assertThat(r0.isAlive(1)).isFalse();
            // later operations fail at once
            long t1 = System.nanoTime();
            assertThatThrownBy(() -> r0.receive(1, new MessageKey(3, 2, 0), deadline(20_000)))
                    .isInstanceOf(CommException.class).hasMessageContaining("rank 1 disconnected")
                    .satisfies(x -> assertThat(((CommException) x).peer()).isEqualTo(1));
            CompletableFuture<Void> send = r0.send(1, KEY, ByteBuffer.allocate(8));
            assertThat(send).isCompletedExceptionally();
            assertThat((System.nanoTime() - t1) / 1_000_000).isLessThan(100);
            assertExchange(r0, c.rank(2), 1000); // the survivors are fine
            // the closed rank itself refuses further use
            assertThatThrownBy(() -> c.rank(1).receive(0, KEY, deadline(1000))).isInstanceOf(CommException.class)
                    .hasMessageContaining("rank 1 is closed");
        }
    }

    /**
     * A peer that sent its last message and closed at once (its job part ended) must not take that message
     * back: it arrived before the goodbye, so a receive posted later still gets it; only the next one fails.
     */
    @Test
    void messageSentJustBeforeThePeerClosedCanStillBeReceived() throws Exception {
        try (Cluster c = Cluster.start(2, "fail-send-close")) {
            NettyTransport r0 = c.rank(0);
            c.rank(1).send(0, KEY, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 42L)).get(5, TimeUnit.SECONDS);
            c.rank(1).close();
            awaitTrue("rank 1 seen gone", 5000, () -> !r0.isAlive(1));
            try (Message m = r0.receive(1, KEY, deadline(1000))) {
                assertThat(m.payload().order(ByteOrder.LITTLE_ENDIAN).getLong(m.payload().position())).isEqualTo(42L);
            }
            assertThatThrownBy(() -> r0.receive(1, KEY, deadline(1000))).isInstanceOf(CommException.class)
                    .hasMessageContaining("rank 1 disconnected");
        }
    }

    @Test
    void peerProcessKilledWhileWeWaitFailsTheWaiterNamingIt(@TempDir Path dir) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dio.netty.native.detectNativeLibraryDuplicates=false",
                "-Dmegalith.test.log=" + dir.resolve("child.log"),
                "-cp", System.getProperty("java.class.path"),
                PeerProcessMain.class.getName(), dir.toString(), "1", "2", "fail-kill");
        pb.environment().put("MEGALITH_TEST_SECRET", HexFormat.of().formatHex(SECRET));
        pb.redirectErrorStream(true);
        Process child = pb.start();
        try {
            NettyTransport r0 = NettyTransport.start(0, 2, TestSupport.cfg("fail-kill").withConnectTimeout(Duration.ofSeconds(30)),
                    new FileRendezvous(dir, 2, Duration.ofSeconds(30)));
            try (r0) {
                BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
                String line;
                while ((line = out.readLine()) != null && !line.startsWith("READY")) { } // skip the child's log lines
                assertThat(line).isEqualTo("READY rank 1");
                CompletableFuture<Object> waiter = TestSupport.async(() -> r0.receive(1, KEY, deadline(30_000)));
                awaitTrue("receive posted", 5000, () -> r0.waitingReceives(1) == 1);
                assertThat(r0.isAlive(1)).isTrue();
                long t0 = System.nanoTime();
                child.destroyForcibly();
                CommException e = failure(waiter, 5000);
                long ms = (System.nanoTime() - t0) / 1_000_000;
                System.out.println("killed peer process detected after " + ms + " ms");
                assertThat(ms).as("ms from kill to failure").isLessThan(2000);
                assertThat(e.peer()).isEqualTo(1);
                assertThat(e).hasMessageContaining("rank 1 disconnected");
                assertThat(r0.isAlive(1)).isFalse();
            }
        } finally {
            child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void silentPeerMakesReceiveTimeOutAtItsDeadlineNamingIt() {
        try (Cluster c = Cluster.start(2, "fail-silent")) {
            long deadlineMs = 300;
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> c.rank(0).receive(1, KEY, t0 + TimeUnit.MILLISECONDS.toNanos(deadlineMs)))
                    .isInstanceOf(CommTimeoutException.class)
                    .hasMessageContaining("no message from rank 1")
                    .satisfies(x -> assertThat(((CommException) x).peer()).isEqualTo(1));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertThat(ms).isBetween(deadlineMs, deadlineMs + 250);
            // a timeout is not a death: the peer still works, and the late message is not lost
            assertThat(c.rank(0).isAlive(1)).isTrue();
            c.rank(1).send(0, KEY, ByteBuffer.wrap(new byte[] {7})).join();
            try (var m = c.rank(0).receive(1, KEY, deadline(5000))) {
                assertThat(m.payload().get()).isEqualTo((byte) 7);
            }
        }
    }

    @Test
    void closeLeavesNoThreads() {
        long before = TestSupport.nettyThreads();
        Cluster c = Cluster.start(3, r -> TestSupport.cfg("fail-threads").withIoThreads(2));
        assertThat(TestSupport.nettyThreads()).isGreaterThan(before);
        assertExchange(c.rank(0), c.rank(2), 100);
        c.close();
        awaitTrue("I/O threads gone", 3000, () -> TestSupport.nettyThreads() == before);
        List<String> left = Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(n -> n.startsWith(NettyTransport.THREAD_NAME_PREFIX)).toList();
        assertThat(left).hasSize((int) before);
    }

    private static CommException failure(CompletableFuture<?> f, long millis) throws Exception {
        try {
            f.get(millis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(CommException.class);
            return (CommException) e.getCause();
        }
        throw new AssertionError("expected a failure, got a result");
    }

}
