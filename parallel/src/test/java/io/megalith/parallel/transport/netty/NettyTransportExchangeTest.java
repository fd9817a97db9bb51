package io.megalith.parallel.transport.netty;

import static io.megalith.parallel.transport.netty.TestSupport.assertPayload;
import static io.megalith.parallel.transport.netty.TestSupport.awaitTrue;
import static io.megalith.parallel.transport.netty.TestSupport.deadline;
import static io.megalith.parallel.transport.netty.TestSupport.payload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Point-to-point exchange over real loopback sockets between ranks running as threads. */
class NettyTransportExchangeTest {
    private static final int[] SIZES = {0, 1, 1 << 20, (3 << 20) + 5};
    /** Tags below this are received before they are sent, the others after they arrived. */
    private static final int EARLY = 0;
    private static final int LATE = 1;

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void everyPairExchangesEverySizeBeforeAndAfterArrival(int n) throws Exception {
        try (Cluster c = Cluster.start(n, "exchange-" + n)) {
            ExecutorService pool = Executors.newCachedThreadPool();
            try {
                // 1. every rank posts receives for the EARLY keys from everyone (itself included) before anything is sent
                List<Future<?>> early = new ArrayList<>();
                for (int dst = 0; dst < n; dst++) {
                    for (int src = 0; src < n; src++) {
                        for (int s = 0; s < SIZES.length; s++) {
                            int d = dst, from = src, size = SIZES[s], tag = tag(EARLY, s);
                            early.add(pool.submit(() -> {
                                try (Message m = c.rank(d).receive(from, key(tag), deadline(20_000))) {
                                    assertPayload(m, from, d, tag, size);
                                }
                            }));
                        }
                    }
                }
                for (int dst = 0; dst < n; dst++) {
                    for (int src = 0; src < n; src++) {
                        int d = dst, from = src;
                        awaitTrue("receives posted", 5000, () -> c.rank(d).waitingReceives(from) == SIZES.length);
                    }
                }
                // 2. everyone sends everything to everyone; heap buffers for odd sizes to cover the copying path
                List<CompletableFuture<Void>> sends = new ArrayList<>();
                for (int src = 0; src < n; src++) {
                    for (int dst = 0; dst < n; dst++) {
                        for (int s = 0; s < SIZES.length; s++) {
                            for (int phase : new int[] {EARLY, LATE}) {
                                int tag = tag(phase, s);
                                sends.add(c.rank(src).send(dst, key(tag), payload(src, dst, tag, SIZES[s], s % 2 == 0)));
                            }
                        }
                    }
                }
                CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new)).get();
                for (Future<?> f : early) f.get();
                // 3. the LATE messages have arrived without a receive; take them in reverse key order
                for (int dst = 0; dst < n; dst++) {
                    for (int src = 0; src < n; src++) {
                        int d = dst, from = src;
                        awaitTrue("messages buffered", 10_000, () -> c.rank(d).bufferedMessages(from) == SIZES.length);
                        for (int s = SIZES.length - 1; s >= 0; s--) {
                            int tag = tag(LATE, s);
                            try (Message m = c.rank(d).receive(from, key(tag), deadline(5000))) {
                                assertPayload(m, from, d, tag, SIZES[s]);
                            }
                        }
                        assertThat(c.rank(d).bufferedMessages(from)).isZero();
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void manyConcurrentKeysFromSeveralThreads() throws Exception {
        int n = 3, threads = 3, perThread = 100;
        try (Cluster c = Cluster.start(n, "concurrent")) {
            ExecutorService pool = Executors.newFixedThreadPool(2 * n * threads);
            try {
                List<Future<?>> work = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    for (int t = 0; t < threads; t++) {
                        int rank = r, thread = t;
                        work.add(pool.submit(() -> { // sender: group = thread, sequence = i, tag = destination
                            List<CompletableFuture<Void>> sent = new ArrayList<>();
                            for (int i = 0; i < perThread; i++) {
                                for (int dst = 0; dst < n; dst++) {
                                    int size = sizeOf(rank, dst, thread, i);
                                    sent.add(c.rank(rank).send(dst, new MessageKey(thread, i, dst), payload(rank, dst, thread * 1000 + i, size, i % 2 == 0)));
                                }
                            }
                            sent.forEach(CompletableFuture::join);
                        }));
                        work.add(pool.submit(() -> { // receiver: everything group `thread` sends to `rank`, shuffled
                            List<int[]> expected = new ArrayList<>();
                            for (int src = 0; src < n; src++) for (int i = 0; i < perThread; i++) expected.add(new int[] {src, i});
                            Collections.shuffle(expected, new Random(rank * 31L + thread));
                            for (int[] e : expected) {
                                try (Message m = c.rank(rank).receive(e[0], new MessageKey(thread, e[1], rank), deadline(20_000))) {
                                    assertPayload(m, e[0], rank, thread * 1000 + e[1], sizeOf(e[0], rank, thread, e[1]));
                                }
                            }
                        }));
                    }
                }
                for (Future<?> f : work) f.get();
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void sendLeavesCallersBufferAloneAndPayloadIsLittleEndian() {
        try (Cluster c = Cluster.start(2, "buffers")) {
            ByteBuffer buf = ByteBuffer.allocateDirect(64);
            buf.putLong(0, 0x0102030405060708L);
            buf.position(0).limit(16);
            MessageKey key = new MessageKey(1, 2, 3);
            c.rank(0).send(1, key, buf).join();
            c.rank(0).send(0, key, buf).join(); // self: copied, so the caller may reuse its buffer at once
            assertThat(buf.position()).isZero();
            assertThat(buf.limit()).isEqualTo(16);
            buf.putLong(0, -1L);
            for (int from : new int[] {0, 1}) {
                NettyTransport receiver = c.rank(from == 0 ? 0 : 1);
                try (Message m = receiver.receive(0, key, deadline(5000))) {
                    ByteBuffer p = m.payload();
                    assertThat(p.order()).isEqualTo(ByteOrder.LITTLE_ENDIAN);
                    assertThat(p.remaining()).isEqualTo(16);
                    assertThat(p.order(ByteOrder.BIG_ENDIAN).getLong(0)).isEqualTo(0x0102030405060708L);
                }
            }
            assertThatThrownBy(() -> c.rank(0).send(1, key, ByteBuffer.allocate(c.rank(0).config().maxPayloadBytes() + 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("exceeds the limit");
        }
    }

    /**
     * Prints point-to-point throughput on loopback: one 64 MiB message at a time (each receive allocates a
     * fresh 64 MiB buffer), and 64 MiB as 64 pipelined 1 MiB messages (how collectives send, with pooled
     * buffers). Each received payload is copied once into a destination, as a collective would.
     */
    @Test
    void throughputOf64MiBMessage() {
        int size = 64 << 20;
        try (Cluster c = Cluster.start(2, "throughput")) {
            ByteBuffer big = payload(0, 1, 7, size, true);
            ByteBuffer dest = ByteBuffer.allocateDirect(size);
            double single = 0;
            for (int i = 0; i < 6; i++) { // the first two warm up
                long t0 = System.nanoTime();
                c.rank(0).send(1, key(1000 + i), big);
                try (Message m = c.rank(1).receive(0, key(1000 + i), deadline(30_000))) {
                    dest.clear();
                    dest.put(m.payload());
                }
                if (i >= 2) single = Math.max(single, mibPerSecond(size, t0));
            }
            dest.flip();
            assertThat(dest.mismatch(payload(0, 1, 7, size, false))).isEqualTo(-1);
            double chunked = 0;
            int chunk = 1 << 20;
            for (int round = 0; round < 4; round++) {
                long t0 = System.nanoTime();
                dest.clear();
                for (int i = 0; i < size / chunk; i++) c.rank(0).send(1, key(10_000 * round + i), big.slice(i * chunk, chunk));
                for (int i = 0; i < size / chunk; i++) {
                    try (Message m = c.rank(1).receive(0, key(10_000 * round + i), deadline(30_000))) {
                        dest.put(m.payload());
                    }
                }
                if (round >= 1) chunked = Math.max(chunked, mibPerSecond(size, t0));
            }
            dest.flip();
            assertThat(dest.mismatch(payload(0, 1, 7, size, false))).isEqualTo(-1);
            System.out.printf("THROUGHPUT (%s, loopback): one 64 MiB message %.0f MiB/s; 64 MiB as 64 x 1 MiB pipelined %.0f MiB/s%n",
                    c.rank(0).usesEpoll() ? "epoll" : "nio", single, chunked);
        }
    }

    private static double mibPerSecond(int bytes, long startNanos) {
        return bytes / ((System.nanoTime() - startNanos) / 1e9) / (1 << 20);
    }

    private static int tag(int phase, int sizeIndex) {
        return phase * 100 + sizeIndex;
    }

    private static MessageKey key(int tag) {
        return new MessageKey(0, 42, tag);
    }

    private static int sizeOf(int src, int dst, int thread, int i) {
        return (src * 7919 + dst * 104729 + thread * 31 + i * 131) % 3000;
    }
}
