package io.megalith.parallel.collective;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.local.InJvmFabric;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Microbenchmark, not a test: ring all-reduce (F32 SUM, default options: 1 MiB chunks) of 64 MiB per
 * rank over the in-JVM fabric, 2 and 4 ranks, one thread per rank, with fp32 and with bf16 on the wire. The fabric copies each message once,
 * so this measures the reduction loops and the copies, i.e. the CPU cost of the collective.
 * Run after {@code mvn -pl parallel -am test-compile}: {@code java -cp
 * parallel/target/classes:parallel/target/test-classes:comm-api/target/classes
 * io.megalith.parallel.collective.AllReduceBench [MiB]}.
 */
public final class AllReduceBench {
    private AllReduceBench() {}

    public static void main(String[] args) throws InterruptedException {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        for (boolean bf16 : new boolean[] {false, true}) {
            CommOptions options = CommOptions.defaults().withBf16Wire(bf16);
            for (int n : new int[] {2, 4}) {
                run(n, mib, 2, options); // warm-up
                double best = Double.MAX_VALUE;
                for (int i = 0; i < 5; i++) {
                    best = Math.min(best, run(n, mib, 1, options));
                }
                // algorithm bandwidth: bytes per rank / time; each rank moves 2(n-1)/n of it
                System.out.printf("ring all-reduce%s %d MiB, %d ranks: %.1f ms (%.2f GB/s algbw, %.2f GB/s busbw)%n",
                        bf16 ? " (bf16 wire)" : "", mib, n, best, mib * 1048576.0 / best / 1e6,
                        mib * 1048576.0 / best / 1e6 * 2 * (n - 1) / n);
            }
        }
    }

    /** Milliseconds per all-reduce, averaged over {@code reps}. */
    private static double run(int n, int mib, int reps, CommOptions options) throws InterruptedException {
        try (InJvmFabric fabric = new InJvmFabric(n)) {
            int[] ranks = IntStream.range(0, n).toArray();
            List<GroupCommunicator> comms = new ArrayList<>();
            List<ByteBuffer> bufs = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                comms.add(new GroupCommunicator(fabric.transport(r), 0, "bench", ranks, options));
                ByteBuffer b = ByteBuffer.allocate(mib << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < b.capacity() / 4; i++) {
                    b.putFloat(4 * i, (i % 1000) * 1e-3f);
                }
                bufs.add(b);
            }
            long t0 = System.nanoTime();
            for (int rep = 0; rep < reps; rep++) {
                List<Thread> threads = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    int rank = r;
                    threads.add(new Thread(
                            () -> comms.get(rank).allReduce(bufs.get(rank), ElementType.F32, ReduceOp.SUM)));
                    threads.get(r).start();
                }
                for (Thread t : threads) {
                    t.join();
                }
            }
            double ms = (System.nanoTime() - t0) / 1e6 / reps;
            comms.forEach(GroupCommunicator::close);
            return ms;
        }
    }
}
