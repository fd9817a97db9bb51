package io.megalith.parallel.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.Transport;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;

/**
 * What the collective tests share, independent of the transport: subclasses say how to make a world of
 * n connected transports ({@link #createTransports}), so the same test bodies run over the in-JVM fabric
 * and, later, over Netty sockets.
 */
abstract class CommTestBase {
    /** Small chunk and threshold so modest sizes exercise both paths and many chunks. */
    static final CommOptions SMALL = new CommOptions(Duration.ofSeconds(20), 4096, 1024);

    private static final ExecutorService RANKS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "test-rank");
        t.setDaemon(true);
        return t;
    });

    private final List<World> worlds = new ArrayList<>();

    /** n transports of a fresh job, connected to each other, indexed by rank. */
    protected abstract List<Transport> createTransports(int n);

    /** Called after a test in which no rank failed: e.g. check that every received message was released. */
    protected void assertClean(List<Transport> transports) {}

    /** The ranks of one job and the communicators made on them; closed after the test. */
    final class World {
        final List<Transport> transports;
        final List<GroupCommunicator> comms = new ArrayList<>();
        /** Set by tests that kill ranks: their leftovers are not checked. */
        boolean faulty;

        World(int n) {
            transports = createTransports(n);
        }

        /** One communicator per member of the group, indexed by group rank. */
        GroupCommunicator[] group(int id, int[] globalRanks, CommOptions options) {
            String name = name(globalRanks);
            GroupCommunicator[] g = new GroupCommunicator[globalRanks.length];
            for (int i = 0; i < g.length; i++) {
                g[i] = new GroupCommunicator(transports.get(globalRanks[i]), id, name, globalRanks, options);
                comms.add(g[i]);
            }
            return g;
        }

        GroupCommunicator[] all(CommOptions options) {
            return group(0, IntStream.range(0, transports.size()).toArray(), options);
        }
    }

    static String name(int[] ranks) {
        StringBuilder b = new StringBuilder("g[");
        for (int i = 0; i < ranks.length; i++) {
            b.append(i == 0 ? "" : ",").append(ranks[i]);
        }
        return b.append(']').toString();
    }

    World world(int n) {
        World w = new World(n);
        worlds.add(w);
        return w;
    }

    @AfterEach
    void closeWorlds() {
        for (World w : worlds) {
            w.comms.forEach(GroupCommunicator::close);
            if (!w.faulty) {
                assertClean(w.transports);
            }
            w.transports.forEach(Transport::close);
        }
        worlds.clear();
    }

    /** Runs {@code body(r)} for r in 0..n-1 on n threads at once; rethrows the first failure. */
    static <T> List<T> onRanks(int n, IntFunction<T> body) {
        List<Future<T>> fs = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            fs.add(RANKS.submit(() -> body.apply(rank)));
        }
        List<T> out = new ArrayList<>();
        for (Future<T> f : fs) {
            try {
                out.add(f.get(60, TimeUnit.SECONDS));
            } catch (ExecutionException e) {
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                throw new AssertionError("a rank failed: " + e.getCause(), e.getCause());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        return out;
    }

    /** What {@code body} threw, or null. */
    static Throwable thrown(Runnable body) {
        try {
            body.run();
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    // ---- data ----

    static ByteBuffer random(ElementType type, long count, long seed) {
        Random rnd = new Random(seed);
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(count * type.bytes)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < count; i++) {
            switch (type) {
                case F32 -> b.putFloat(rnd.nextFloat() * 2 - 1);
                case I32 -> b.putInt(rnd.nextInt());
                case I64 -> b.putLong(rnd.nextLong());
            }
        }
        return b.flip();
    }

    static ByteBuffer copy(ByteBuffer b) {
        ByteBuffer c = ByteBuffer.allocate(b.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        return c.put(b.duplicate()).flip();
    }

    static byte[] bytes(ByteBuffer b) {
        byte[] a = new byte[b.remaining()];
        b.duplicate().get(a);
        return a;
    }

    /**
     * The reduction computed straightforwardly, element by element: integers with Java's wrapping
     * arithmetic (AVG: sum / n, rounded toward zero), floats summed in double, MAX with Math.max.
     */
    static ByteBuffer reference(List<ByteBuffer> inputs, ElementType type, ReduceOp op) {
        int n = inputs.size();
        int count = inputs.get(0).remaining() / type.bytes;
        ByteBuffer out = ByteBuffer.allocate(count * type.bytes).order(ByteOrder.LITTLE_ENDIAN);
        List<ByteBuffer> in = inputs.stream().map(b -> b.duplicate().order(ByteOrder.LITTLE_ENDIAN)).toList();
        for (int i = 0; i < count; i++) {
            int at = i * type.bytes;
            switch (type) {
                case F32 -> {
                    double sum = 0;
                    float max = Float.NEGATIVE_INFINITY;
                    for (ByteBuffer b : in) {
                        float v = b.getFloat(b.position() + at);
                        sum += v;
                        max = Math.max(max, v);
                    }
                    out.putFloat(at, op == ReduceOp.MAX ? max : (float) (op == ReduceOp.AVG ? sum / n : sum));
                }
                case I32 -> {
                    int sum = 0;
                    int max = Integer.MIN_VALUE;
                    for (ByteBuffer b : in) {
                        int v = b.getInt(b.position() + at);
                        sum += v;
                        max = Math.max(max, v);
                    }
                    out.putInt(at, op == ReduceOp.MAX ? max : op == ReduceOp.AVG ? sum / n : sum);
                }
                case I64 -> {
                    long sum = 0;
                    long max = Long.MIN_VALUE;
                    for (ByteBuffer b : in) {
                        long v = b.getLong(b.position() + at);
                        sum += v;
                        max = Math.max(max, v);
                    }
                    out.putLong(at, op == ReduceOp.MAX ? max : op == ReduceOp.AVG ? sum / n : sum);
                }
            }
        }
        return out;
    }

    /** Float sums and averages within 1e-5 of the reference; everything else bit for bit. */
    static void assertMatches(ByteBuffer got, ByteBuffer want, ElementType type, ReduceOp op, String what) {
        assertThat(got.remaining()).as(what + ": bytes").isEqualTo(want.remaining());
        if (type != ElementType.F32 || op == ReduceOp.MAX) {
            assertSameBytes(got, want, what);
            return;
        }
        ByteBuffer g = got.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer w = want.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < got.remaining() / 4; i++) {
            float a = g.getFloat(g.position() + 4 * i);
            float b = w.getFloat(w.position() + 4 * i);
            if (!(Math.abs(a - b) <= 1e-5f)) {
                fail("%s: element %d is %s, reference %s", what, i, a, b);
            }
        }
    }

    static void assertSameBytes(ByteBuffer got, ByteBuffer want, String what) {
        ByteBuffer g = got.duplicate();
        ByteBuffer w = want.duplicate();
        assertThat(g.remaining()).as(what + ": bytes").isEqualTo(w.remaining());
        int mismatch = g.mismatch(w);
        if (mismatch >= 0) {
            fail("%s: first differing byte %d of %d (%d vs %d)", what, mismatch, g.remaining(),
                    g.get(g.position() + mismatch), w.get(w.position() + mismatch));
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    static void await(CountDownLatch l) {
        try {
            assertThat(l.await(20, TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
