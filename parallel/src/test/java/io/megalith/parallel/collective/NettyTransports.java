package io.megalith.parallel.collective;

import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.Transport;
import io.megalith.parallel.transport.netty.NettyTransport;
import io.megalith.parallel.transport.netty.TransportConfig;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** n ranks in this JVM connected by real Netty sockets on 127.0.0.1 (a full mesh, authenticated). */
final class NettyTransports {
    private NettyTransports() {}

    static List<Transport> start(int n) {
        String job = "test-" + UUID.randomUUID();
        byte[] secret = ("secret-of-" + job).getBytes(StandardCharsets.UTF_8);
        InJvmRendezvous rendezvous = new InJvmRendezvous(n, Duration.ofSeconds(30));
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<NettyTransport>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                futures.add(pool.submit(() -> NettyTransport.start(rank, n, TransportConfig.of(job, secret), rendezvous)));
            }
            List<Transport> out = new ArrayList<>();
            for (Future<NettyTransport> f : futures) {
                out.add(f.get());
            }
            return out;
        } catch (Exception e) {
            throw new IllegalStateException("could not start " + n + " Netty ranks", e);
        } finally {
            pool.shutdown();
        }
    }
}
