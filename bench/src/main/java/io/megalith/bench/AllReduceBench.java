package io.megalith.bench;

import io.megalith.core.comm.ElementType;
import io.megalith.core.comm.ReduceOp;
import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.netty.NettyTransport;
import io.megalith.parallel.transport.netty.TransportConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Ring all-reduce (SUM, float32) over Netty on loopback, measured as nccl-tests and
 * {@code ../shared/bench/gloo_allreduce.py} do: per size, warm-up calls, then timed calls each started
 * together (a barrier); the time of a call is the slowest rank's; the median over calls is reported
 * with algbw = bytes / time and busbw = algbw * 2(n-1)/n. Beside it, the memory-copy bandwidth of this
 * JVM (direct buffer to direct buffer) in the same run. Ranks are threads of this JVM, each with its
 * own Netty transport and sockets.
 *
 * <pre>  java -cp ... io.megalith.bench.AllReduceBench [--ranks 2] [--iters 20] [--warmup 5]</pre>
 */
public final class AllReduceBench {
    static final long[] SIZES = {1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20};

    private AllReduceBench() {}

    public static void main(String[] args) throws Exception {
        int ranks = 2;
        int iters = 20;
        int warmup = 5;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--ranks" -> ranks = Integer.parseInt(args[++i]);
                case "--iters" -> iters = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        memcpy(iters, warmup);
        allReduce(ranks, iters, warmup);
    }

    static void memcpy(int iters, int warmup) {
        for (long size : new long[] {1 << 20, 64 << 20}) {
            ByteBuffer src = ByteBuffer.allocateDirect((int) size);
            ByteBuffer dst = ByteBuffer.allocateDirect((int) size);
            double[] t = new double[iters];
            for (int i = 0; i < warmup + iters; i++) {
                long t0 = System.nanoTime();
                dst.clear();
                dst.put(src.duplicate());
                long dt = System.nanoTime() - t0;
                if (i >= warmup) {
                    t[i - warmup] = dt / 1e9;
                }
            }
            System.out.printf("memcpy size=%s time_us=%.1f bw_GBps=%.3f%n", human(size), median(t) * 1e6, size / median(t) / 1e9);
        }
    }

    static void allReduce(int n, int iters, int warmup) throws Exception {
        InJvmRendezvous rendezvous = new InJvmRendezvous(n, Duration.ofSeconds(60));
        byte[] secret = "all-reduce-bench-secret-0123456789".getBytes(StandardCharsets.US_ASCII);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<Future<NettyTransport>> started = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            started.add(pool.submit(() -> NettyTransport.start(rank, n, TransportConfig.of("bench", secret), rendezvous)));
        }
        List<NettyTransport> transports = new ArrayList<>();
        for (Future<NettyTransport> f : started) {
            transports.add(f.get());
        }
        int[] all = new int[n];
        Arrays.setAll(all, i -> i);
        List<GroupCommunicator> comms = new ArrayList<>();
        for (NettyTransport t : transports) {
            comms.add(new GroupCommunicator(t, 0, "world", all, CommOptions.defaults()));
        }
        CyclicBarrier barrier = new CyclicBarrier(n);
        for (long size : SIZES) {
            double[][] times = new double[n][iters];
            List<Future<?>> runs = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                runs.add(pool.submit(() -> {
                    ByteBuffer buf = ByteBuffer.allocateDirect((int) size).order(ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < warmup + iters; i++) {
                        barrier.await();
                        long t0 = System.nanoTime();
                        comms.get(rank).allReduce(buf, ElementType.F32, ReduceOp.SUM);
                        if (i >= warmup) {
                            times[rank][i - warmup] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : runs) {
                f.get();
            }
            double[] slowest = new double[iters];
            for (int i = 0; i < iters; i++) {
                for (int r = 0; r < n; r++) {
                    slowest[i] = Math.max(slowest[i], times[r][i]);
                }
            }
            double t = median(slowest);
            double algbw = size / t;
            double busbw = algbw * 2.0 * (n - 1) / n;
            System.out.printf("allreduce ranks=%d size=%s time_us=%.1f algbw_GBps=%.3f busbw_GBps=%.3f%n", n, human(size),
                    t * 1e6, algbw / 1e9, busbw / 1e9);
        }
        comms.forEach(GroupCommunicator::close);
        transports.forEach(NettyTransport::close);
        pool.shutdown();
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    static String human(long bytes) {
        return bytes >= 1 << 20 ? (bytes >> 20) + "MiB" : (bytes >> 10) + "KiB";
    }
}
