package io.megalith.parallel.transport.netty;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.CommException;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rank 1 of 3 runs in its own JVM; the three ranks all-reduce 4 MiB in a loop over Netty sockets; the
 * process is killed (SIGKILL) in the middle of an all-reduce. Ranks 0 and 2 must fail well within the
 * deadline with a {@link CommException} naming the operation, the group and the peer, never hang.
 */
class ProcessKilledDuringAllReduceTest {
    static final Duration DEADLINE = Duration.ofSeconds(10);

    @Test
    void survivorsFailNamingTheKilledRank(@TempDir Path dir) throws Exception {
        String job = "kill-all-reduce";
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-XX:+UseSerialGC",
                "-Dio.netty.native.detectNativeLibraryDuplicates=false", "-Dmegalith.test.log=" + dir.resolve("child.log"),
                "-cp", System.getProperty("java.class.path"), AllReduceProcessMain.class.getName(), dir.toString(), "1",
                "3", job);
        pb.environment().put("MEGALITH_TEST_SECRET", HexFormat.of().formatHex(TestSupport.SECRET));
        pb.redirectErrorStream(true);
        Process child = pb.start();
        List<NettyTransport> mine = new ArrayList<>();
        try {
            List<CompletableFuture<NettyTransport>> starting = new ArrayList<>();
            for (int rank : new int[] {0, 2}) {
                starting.add(CompletableFuture.supplyAsync(() -> NettyTransport.start(rank, 3,
                        TestSupport.cfg(job).withConnectTimeout(Duration.ofSeconds(30)),
                        new FileRendezvous(dir, 3, Duration.ofSeconds(30)))));
            }
            for (CompletableFuture<NettyTransport> f : starting) {
                mine.add(f.get(60, TimeUnit.SECONDS));
            }
            CommOptions options = CommOptions.defaults().withDeadline(DEADLINE);
            List<CompletableFuture<CommException>> loops = new ArrayList<>();
            for (NettyTransport t : mine) {
                GroupCommunicator g = new GroupCommunicator(t, 0, "world", new int[] {0, 1, 2}, options);
                loops.add(CompletableFuture.supplyAsync(() -> {
                    ByteBuffer buf = ByteBuffer.allocateDirect(4 << 20).order(ByteOrder.LITTLE_ENDIAN);
                    try {
                        while (true) {
                            g.allReduce(buf, ElementType.F32, ReduceOp.SUM);
                        }
                    } catch (CommException e) {
                        t.close(); // what a failing rank does: its peers then fail at once too
                        return e;
                    }
                }));
            }
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = out.readLine()) != null && !line.startsWith("ITERATION 3")) { } // a few all-reduces done
            assertThat(line).as("the child took part in all-reduces").isEqualTo("ITERATION 3");
            long t0 = System.nanoTime();
            child.destroyForcibly();
            for (CompletableFuture<CommException> loop : loops) {
                CommException e = loop.get(DEADLINE.toSeconds() + 5, TimeUnit.SECONDS);
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertThat(ms).as("failed within the deadline").isLessThan(DEADLINE.toMillis());
                assertThat(e.getMessage()).startsWith("all_reduce on group world").contains("rank ");
                assertThat(e.peer()).as("names a peer it depended on: %s", e.getMessage()).isIn(0, 1, 2);
            }
            // the rank whose ring neighbour was killed names it: rank 2 receives from rank 1
            assertThat(loops.get(1).get().peer()).isEqualTo(1);
            assertThat(loops.get(1).get().getMessage()).contains("rank 1");
        } finally {
            child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            mine.forEach(NettyTransport::close);
        }
    }
}
