package io.megalith.core.testing;

import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.netty.NettyTransport;
import io.megalith.parallel.transport.netty.TransportConfig;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * Runs one function per rank of a device mesh, each rank a thread of this JVM with its own Netty transport
 * (real sockets on 127.0.0.1, authenticated), its process groups built from the mesh; returns the results
 * in rank order.
 */
public final class LoopbackRanks {
    private LoopbackRanks() {}

    public static <R> List<R> run(DeviceMesh mesh, Function<ParallelContext, R> rank) throws Exception {
        int n = mesh.worldSize();
        String job = "test-" + UUID.randomUUID();
        byte[] secret = ("secret-" + job).getBytes(StandardCharsets.UTF_8);
        InJvmRendezvous rendezvous = new InJvmRendezvous(n, Duration.ofSeconds(60));
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<R>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int me = r;
                futures.add(pool.submit(() -> {
                    try (NettyTransport t = NettyTransport.start(me, n, TransportConfig.of(job, secret), rendezvous);
                            ParallelContext ctx = new ParallelContext(mesh, me, (id, name, ranks) ->
                                    new GroupCommunicator(t, id, name, ranks, CommOptions.defaults()
                                            .withDeadline(Duration.ofSeconds(60))))) {
                        return rank.apply(ctx);
                    }
                }));
            }
            List<R> out = new ArrayList<>();
            Exception failure = null;
            for (int r = 0; r < futures.size(); r++) {
                try {
                    out.add(futures.get(r).get());
                } catch (ExecutionException e) {
                    // keep every rank's failure: the first one is usually the cause, the others its echo
                    Exception named = new Exception("rank " + r + " failed: " + e.getCause(), e.getCause());
                    if (failure == null) {
                        failure = named;
                    } else {
                        failure.addSuppressed(named);
                    }
                }
            }
            if (failure != null) {
                throw failure;
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }
}
