package io.megalith.core.testing;

import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import io.megalith.parallel.transport.local.InJvmFabric;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * Runs one function per rank of a device mesh, each rank a thread of this JVM over the in-JVM transport (messages
 * copied on the heap: fast, and no direct buffers of its own), its process groups built from the mesh; returns the
 * results in rank order. {@link LoopbackRanks} does the same over real sockets.
 */
public final class InJvmRanks {
    private InJvmRanks() {}

    public static <R> List<R> run(DeviceMesh mesh, Function<ParallelContext, R> rank) throws Exception {
        int n = mesh.worldSize();
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try (InJvmFabric fabric = new InJvmFabric(n)) {
            List<Future<R>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int me = r;
                futures.add(pool.submit(() -> {
                    try (ParallelContext ctx = new ParallelContext(mesh, me, (id, name, ranks) ->
                            new GroupCommunicator(fabric.transport(me), id, name, ranks, CommOptions.defaults()))) {
                        return rank.apply(ctx);
                    }
                }));
            }
            List<R> results = new ArrayList<>();
            for (Future<R> f : futures) {
                results.add(f.get());
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }
}
