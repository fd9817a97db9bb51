package io.megalith.bench;

import com.sun.management.OperatingSystemMXBean;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.PeerAddress;
import io.megalith.parallel.transport.Rendezvous;
import io.megalith.parallel.transport.netty.NettyTransport;
import io.megalith.parallel.transport.netty.TransportConfig;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
 * (with min and max) with algbw = bytes / time and busbw = algbw * 2(n-1)/n. Then, like the gloo
 * script's loop_avg, {@code iters} back-to-back calls with no barrier between them, averaged, max over
 * ranks. Beside it, the memory-copy bandwidth of this JVM (direct buffer to direct buffer) in the same run.
 *
 * <p>Ranks are threads of this JVM, each with its own Netty transport and sockets, started together by
 * a {@link CyclicBarrier}; with {@code --processes} each rank is a JVM of its own (as gloo's ranks are
 * processes), started together by the communicator's own barrier.
 *
 * <pre>  java -cp ... io.megalith.bench.AllReduceBench [--ranks 2] [--iters 20] [--warmup 5]
 *       [--sizes 1K,64K,1M,16M,64M] [--processes] [--chunk-kib 1024] [--small-kib 64]</pre>
 */
public final class AllReduceBench {
    static final long[] SIZES = {1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20};
    private static final byte[] SECRET = "all-reduce-bench-secret-0123456789".getBytes(StandardCharsets.US_ASCII);

    private AllReduceBench() {}

    /** What every rank needs to know. */
    record Setup(int ranks, int iters, int warmup, long[] sizes, CommOptions options, int prewarm) {}

    public static void main(String[] args) throws Exception {
        int ranks = 2;
        int iters = 20;
        int warmup = 5;
        long[] sizes = SIZES;
        boolean processes = false;
        CommOptions defaults = CommOptions.defaults();
        int chunk = defaults.chunkBytes();
        int small = defaults.smallMessageBytes();
        int prewarm = 0;
        int childRank = -1;
        Path childDir = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--ranks" -> ranks = Integer.parseInt(args[++i]);
                case "--iters" -> iters = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--sizes" -> sizes = Arrays.stream(args[++i].split(",")).mapToLong(AllReduceBench::parseSize).toArray();
                case "--processes" -> processes = true;
                case "--chunk-kib" -> chunk = Integer.parseInt(args[++i]) << 10;
                case "--small-kib" -> small = Integer.parseInt(args[++i]) << 10;
                case "--prewarm" -> prewarm = Integer.parseInt(args[++i]);
                case "--child" -> { // internal: one rank of a --processes run
                    childRank = Integer.parseInt(args[++i]);
                    childDir = Path.of(args[++i]);
                }
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Setup setup = new Setup(ranks, iters, warmup, sizes,
                new CommOptions(defaults.deadline(), chunk, small, defaults.bf16Wire()), prewarm);
        if (childRank >= 0) {
            child(setup, childRank, childDir);
            return;
        }
        System.out.printf("# ranks=%d %s iters=%d warmup=%d prewarm=%d chunk=%dKiB small=%dKiB allocator=%s%n", ranks,
                processes ? "processes" : "threads", iters, warmup, prewarm, chunk >> 10, small >> 10,
                System.getProperty("io.netty.allocator.type", "default"));
        memcpy(20, 5);
        double[][][] times = processes ? inProcesses(setup, args) : inThreads(setup);
        report(setup, times, processes);
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

    /** times[size][rank][i]: the timed calls of each rank, then (index iters) the loop average. */
    static double[][][] inThreads(Setup s) throws Exception {
        int n = s.ranks();
        InJvmRendezvous rendezvous = new InJvmRendezvous(n, Duration.ofSeconds(60));
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<Future<NettyTransport>> started = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            started.add(pool.submit(() -> NettyTransport.start(rank, n, TransportConfig.of("bench", SECRET), rendezvous)));
        }
        List<NettyTransport> transports = new ArrayList<>();
        for (Future<NettyTransport> f : started) {
            transports.add(f.get());
        }
        List<GroupCommunicator> comms = new ArrayList<>();
        for (NettyTransport t : transports) {
            comms.add(new GroupCommunicator(t, 0, "world", world(n), s.options()));
        }
        CyclicBarrier barrier = new CyclicBarrier(n);
        double[][][] times = new double[s.sizes().length][n][];
        List<Future<?>> runs = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            runs.add(pool.submit(() -> {
                prewarm(s, comms.get(rank), () -> barrier.await());
                for (int k = 0; k < s.sizes().length; k++) {
                    times[k][rank] = rankLoop(s, s.sizes()[k], comms.get(rank), () -> barrier.await());
                }
                return null;
            }));
        }
        for (Future<?> f : runs) {
            f.get();
        }
        comms.forEach(GroupCommunicator::close);
        transports.forEach(NettyTransport::close);
        pool.shutdown();
        return times;
    }

    /**
     * --prewarm k: before measuring, k untimed rounds of the whole measurement (every size, barriers
     * included), so the JIT has compiled every path: what a training job sees after its first steps. The
     * default (0) measures as the gloo script does, the first sizes partly in the interpreter.
     */
    static void prewarm(Setup s, GroupCommunicator comm, Sync sync) throws Exception {
        for (int p = 0; p < s.prewarm(); p++) {
            for (long size : s.sizes()) {
                rankLoop(s, size, comm, sync);
            }
        }
    }

    interface Sync {
        void await() throws Exception;
    }

    /**
     * One rank's timed calls of one size, then the back-to-back loop average, then the CPU time this
     * process spent per call during that loop (all its threads: with ranks as threads, that is every rank's).
     */
    static double[] rankLoop(Setup s, long size, GroupCommunicator comm, Sync sync) throws Exception {
        ByteBuffer buf = ByteBuffer.allocateDirect((int) size).order(ByteOrder.LITTLE_ENDIAN);
        double[] t = new double[s.iters() + 2];
        for (int i = 0; i < s.warmup() + s.iters(); i++) {
            sync.await();
            long t0 = System.nanoTime();
            comm.allReduce(buf, ElementType.F32, ReduceOp.SUM);
            if (i >= s.warmup()) {
                t[i - s.warmup()] = (System.nanoTime() - t0) / 1e9;
            }
        }
        sync.await();
        long cpu0 = processCpuNanos();
        long t0 = System.nanoTime();
        for (int i = 0; i < s.iters(); i++) {
            comm.allReduce(buf, ElementType.F32, ReduceOp.SUM);
        }
        t[s.iters()] = (System.nanoTime() - t0) / 1e9 / s.iters();
        t[s.iters() + 1] = (processCpuNanos() - cpu0) / 1e9 / s.iters();
        return t;
    }

    static long processCpuNanos() {
        return ((OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /**
     * cpu_us is the CPU time the rank processes spent per call in the back-to-back loop: with ranks as
     * threads, the JVM's (all ranks); with --processes, the sum over the rank JVMs.
     */
    static void report(Setup s, double[][][] times, boolean processes) {
        int n = s.ranks();
        int iters = s.iters();
        System.out.printf("%-6s %7s %10s %10s %10s %11s %11s %11s %12s %10s%n", "ranks", "size", "median_us", "min_us",
                "max_us", "algbw_GBps", "busbw_GBps", "loop_avg_us", "busbw(loop)", "cpu_us");
        for (int k = 0; k < s.sizes().length; k++) {
            long size = s.sizes()[k];
            double[] slowest = new double[iters + 1];
            for (int i = 0; i <= iters; i++) {
                for (int r = 0; r < n; r++) {
                    slowest[i] = Math.max(slowest[i], times[k][r][i]);
                }
            }
            double loop = slowest[iters];
            double cpu = 0;
            for (int r = 0; r < n; r++) {
                cpu = processes ? cpu + times[k][r][iters + 1] : Math.max(cpu, times[k][r][iters + 1]);
            }
            double[] calls = Arrays.copyOf(slowest, iters);
            double t = median(calls);
            double algbw = size / t;
            double factor = 2.0 * (n - 1) / n;
            System.out.printf("%-6d %7s %10.1f %10.1f %10.1f %11.3f %11.3f %11.1f %12.3f %10.1f%n", n, human(size), t * 1e6,
                    Arrays.stream(calls).min().orElse(0) * 1e6, Arrays.stream(calls).max().orElse(0) * 1e6, algbw / 1e9,
                    algbw * factor / 1e9, loop * 1e6, size / loop * factor / 1e9, cpu * 1e6);
        }
    }

    // ---- --processes: one JVM per rank ----

    static double[][][] inProcesses(Setup s, String[] args) throws Exception {
        int n = s.ranks();
        Path dir = Files.createTempDirectory("allreduce-bench");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<Process> procs = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<String> cmd = new ArrayList<>();
            cmd.add(java);
            for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if (a.startsWith("-XX:StartFlightRecording")) {
                    a = a.replace(".jfr", "-r" + r + ".jfr"); // one recording per rank
                }
                cmd.add(a);
            }
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), AllReduceBench.class.getName()));
            cmd.addAll(Arrays.asList(args));
            cmd.addAll(List.of("--child", Integer.toString(r), dir.toString()));
            procs.add(new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start());
        }
        double[][][] times = new double[s.sizes().length][n][];
        for (int r = 0; r < n; r++) {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(procs.get(r).getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.startsWith("TIMES ")) {
                        String[] f = line.split(" ");
                        times[Integer.parseInt(f[1])][r] = Arrays.stream(f, 2, f.length).mapToDouble(Double::parseDouble).toArray();
                    }
                }
            }
            if (procs.get(r).waitFor() != 0) {
                throw new IllegalStateException("rank " + r + " exited with " + procs.get(r).exitValue());
            }
        }
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
        return times;
    }

    static void child(Setup s, int rank, Path dir) throws Exception {
        int n = s.ranks();
        try (NettyTransport t = NettyTransport.start(rank, n, TransportConfig.of("bench", SECRET), new DirRendezvous(dir, n));
                GroupCommunicator comm = new GroupCommunicator(t, 0, "world", world(n), s.options())) {
            prewarm(s, comm, comm::barrier);
            for (int k = 0; k < s.sizes().length; k++) {
                double[] times = rankLoop(s, s.sizes()[k], comm, comm::barrier);
                StringBuilder b = new StringBuilder("TIMES ").append(k);
                for (double x : times) {
                    b.append(' ').append(x);
                }
                System.out.println(b);
            }
            comm.barrier(); // nobody closes while a peer still waits for its last message
        }
    }

    /** Rendezvous through a directory: each rank writes its address to a file (atomically) and reads the others'. */
    record DirRendezvous(Path dir, int n) implements Rendezvous {
        @Override
        public List<PeerAddress> exchange(PeerAddress mine) {
            try {
                Path tmp = dir.resolve(mine.rank() + ".tmp");
                Files.writeString(tmp, mine.host() + " " + mine.port());
                Files.move(tmp, dir.resolve(mine.rank() + ".addr"), StandardCopyOption.ATOMIC_MOVE);
                List<PeerAddress> all = new ArrayList<>();
                long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                for (int r = 0; r < n; r++) {
                    Path f = dir.resolve(r + ".addr");
                    while (!Files.exists(f)) {
                        if (System.nanoTime() > end) {
                            throw new IllegalStateException("rank " + r + " did not publish its address in " + dir);
                        }
                        Thread.sleep(10);
                    }
                    String[] hp = Files.readString(f).trim().split(" ");
                    all.add(new PeerAddress(r, hp[0], Integer.parseInt(hp[1])));
                }
                return all;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    static int[] world(int n) {
        int[] all = new int[n];
        Arrays.setAll(all, i -> i);
        return all;
    }

    static long parseSize(String s) {
        String u = s.trim().toUpperCase();
        long mult = 1;
        if (u.endsWith("IB")) {
            u = u.substring(0, u.length() - 2);
        }
        if (u.endsWith("K")) {
            mult = 1 << 10;
        } else if (u.endsWith("M")) {
            mult = 1 << 20;
        }
        if (mult > 1) {
            u = u.substring(0, u.length() - 1);
        }
        return Long.parseLong(u) * mult;
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2; // as Python's statistics.median
    }

    static String human(long bytes) {
        return bytes >= 1 << 20 ? (bytes >> 20) + "MiB" : (bytes >> 10) + "KiB";
    }
}
