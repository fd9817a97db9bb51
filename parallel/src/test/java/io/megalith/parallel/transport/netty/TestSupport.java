package io.megalith.parallel.transport.netty;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import io.megalith.parallel.transport.Rendezvous;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import org.slf4j.LoggerFactory;

/** Shared helpers of the transport tests. */
final class TestSupport {
    static final byte[] SECRET = "megalith-test-secret-7f3a9c1e".getBytes(StandardCharsets.US_ASCII);
    static final byte[] WRONG_SECRET = "megalith-wrong-secret-0b88d42".getBytes(StandardCharsets.US_ASCII);
    static final Path LOG = Path.of(System.getProperty("megalith.test.log", "target/test-logs/megalith-test.log"));

    static {
        // start logging now: its file appender truncates the file, which would invalidate earlier marks
        LoggerFactory.getLogger(TestSupport.class).info("transport tests log to {}", LOG);
    }

    private TestSupport() {}

    static TransportConfig cfg(String jobId) {
        return TransportConfig.of(jobId, SECRET).withConnectTimeout(Duration.ofSeconds(5));
    }

    /** Starts every rank on its own thread; each entry is the rank's NettyTransport or the Throwable its start threw. */
    static List<Object> startAll(int n, IntFunction<TransportConfig> cfg, Rendezvous rendezvous) {
        List<CompletableFuture<Object>> futures = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            CompletableFuture<Object> f = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                try {
                    f.complete(NettyTransport.start(rank, n, cfg.apply(rank), rendezvous));
                } catch (Throwable e) {
                    f.complete(e);
                }
            }, "test-start-r" + r);
            t.start();
            futures.add(f);
        }
        return futures.stream().map(CompletableFuture::join).toList();
    }

    /** Runs {@code task} on a fresh thread (the common pool may have a single thread on small machines). */
    static <T> CompletableFuture<T> async(Supplier<T> task) {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(task.get());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "test-async");
        t.setDaemon(true);
        t.start();
        return f;
    }

    static Rendezvous rendezvous(int n) {
        return new InJvmRendezvous(n, Duration.ofSeconds(20));
    }

    /** Deterministic bytes for (src, dst, tag, size): a receiver can check it got exactly what was sent. */
    static ByteBuffer payload(int src, int dst, int tag, int size, boolean direct) {
        byte[] b = new byte[size];
        new Random(((long) src << 40) ^ ((long) dst << 20) ^ ((long) tag << 8) ^ size).nextBytes(b);
        ByteBuffer buf = direct ? ByteBuffer.allocateDirect(size) : ByteBuffer.allocate(size);
        return buf.put(b).flip();
    }

    static void assertPayload(Message m, int src, int dst, int tag, int size) {
        ByteBuffer got = m.payload();
        assertThat(got.remaining()).as("size of %d->%d tag %d", src, dst, tag).isEqualTo(size);
        assertThat(got.mismatch(payload(src, dst, tag, size, false))).as("first differing byte %d->%d tag %d", src, dst, tag)
                .isEqualTo(-1);
    }

    /** One message each way between a and b, checked. */
    static void assertExchange(NettyTransport a, NettyTransport b, int size) {
        MessageKey key = new MessageKey(99, System.nanoTime(), size);
        a.send(b.rank(), key, payload(a.rank(), b.rank(), 99, size, true)).join();
        b.send(a.rank(), key, payload(b.rank(), a.rank(), 99, size, true)).join();
        try (Message m = b.receive(a.rank(), key, deadline(5000))) {
            assertPayload(m, a.rank(), b.rank(), 99, size);
        }
        try (Message m = a.receive(b.rank(), key, deadline(5000))) {
            assertPayload(m, b.rank(), a.rank(), 99, size);
        }
    }

    static long deadline(long millis) {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    static void awaitTrue(String what, long millis, BooleanSupplier condition) {
        long end = deadline(millis);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out waiting for " + what);
            sleep(5);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static long logSize() {
        try {
            return Files.exists(LOG) ? Files.size(LOG) : 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The log written since {@code mark} (a {@link #logSize()}). */
    static String logSince(long mark) {
        try {
            byte[] all = Files.readAllBytes(LOG);
            return new String(all, (int) Math.min(mark, all.length), (int) Math.max(0, all.length - mark), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits until the log since {@code mark} contains all of {@code parts} in one line; returns that line. */
    static String awaitLogLine(long mark, long millis, String... parts) {
        long end = deadline(millis);
        while (true) {
            for (String line : logSince(mark).split("\n")) {
                boolean all = true;
                for (String p : parts) all &= line.contains(p);
                if (all) return line;
            }
            if (System.nanoTime() > end) {
                throw new AssertionError("no log line with " + List.of(parts) + " in:\n" + logSince(mark));
            }
            sleep(10);
        }
    }

    /** Every form in which the secret could leak into text. */
    static List<String> secretForms(byte[] secret) {
        return List.of(new String(secret, StandardCharsets.ISO_8859_1), HexFormat.of().formatHex(secret),
                HexFormat.of().withUpperCase().formatHex(secret), Base64.getEncoder().encodeToString(secret));
    }

    static void assertNoSecretIn(String text) {
        for (byte[] s : List.of(SECRET, WRONG_SECRET)) {
            for (String form : secretForms(s)) assertThat(text).doesNotContain(form);
        }
    }

    static long nettyThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(NettyTransport.THREAD_NAME_PREFIX)).count();
    }

    static void closeAll(List<?> transports) {
        for (Object o : transports) if (o instanceof NettyTransport t) t.close();
    }
}
