package io.megalith.parallel.collective;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Dead and silent ranks make the others fail within the deadline, naming op, group, seq and peer. */
abstract class AbstractCommFailureTest extends CommTestBase {
    static final Duration DEADLINE = Duration.ofMillis(1500);
    static final CommOptions OPTIONS = SMALL.withDeadline(DEADLINE);

    record Outcome(Throwable error, long millis) {}

    /** Ranks 0, 1 and 3 of 4 all-reduce {@code count} floats; rank 2 never joins and is closed after 200 ms. */
    private List<Outcome> allReduceWhileRank2Dies(int count) {
        World w = world(4);
        w.faulty = true;
        GroupCommunicator[] g = w.all(OPTIONS);
        return onRanks(4, r -> {
            long t0 = System.nanoTime();
            if (r == 2) {
                sleep(200);
                w.transports.get(2).close();
                return null;
            }
            Throwable e = thrown(() -> g[r].allReduce(random(ElementType.F32, count, r), ElementType.F32, ReduceOp.SUM));
            return new Outcome(e, (System.nanoTime() - t0) / 1_000_000);
        });
    }

    @Test
    void latencyPathFailsFastOnEveryRankWhenAPeerDies() {
        List<Outcome> out = allReduceWhileRank2Dies(10);
        for (int r : new int[] {0, 1, 3}) {
            Outcome o = out.get(r);
            assertThat(o.error()).as("rank " + r).isInstanceOf(CommException.class)
                    .hasMessageStartingWith("all_reduce on group g[0,1,2,3] (seq 0): ")
                    .hasMessageContaining("rank 2")
                    .hasCauseInstanceOf(CommException.class); // the transport's exception
            assertThat(((CommException) o.error()).peer()).isEqualTo(2);
            assertThat(o.millis()).as("rank " + r + " failed after ms").isLessThan(DEADLINE.toMillis() - 300);
        }
    }

    @Test
    void ringFailsFastOnTheDeadRanksNeighbourAndWithinTheDeadlineElsewhere() {
        List<Outcome> out = allReduceWhileRank2Dies(100_000);
        // rank 3 receives from rank 2 in the ring: it sees the death itself
        Outcome right = out.get(3);
        assertThat(right.error()).isInstanceOf(CommException.class)
                .hasMessageStartingWith("all_reduce on group g[0,1,2,3] (seq 0): ").hasMessageContaining("rank 2");
        assertThat(((CommException) right.error()).peer()).isEqualTo(2);
        assertThat(right.millis()).isLessThan(DEADLINE.toMillis() - 300);
        // ranks 0 and 1 wait on live ranks that stopped forwarding: they give up at the deadline, naming them
        for (int r : new int[] {0, 1}) {
            CommException e = (CommException) out.get(r).error();
            assertThat(e).as("rank " + r).isNotNull().hasMessageContaining("all_reduce on group g[0,1,2,3] (seq 0)")
                    .hasMessageContaining("rank " + e.peer());
            assertThat(e.peer()).isIn(0, 1, 3);
            assertThat(out.get(r).millis()).isLessThan(DEADLINE.toMillis() + 2000);
        }
    }

    @Test
    void afterAFailureLaterOperationsFailAtOnceNamingTheFirstFailure() {
        World w = world(3);
        w.faulty = true;
        GroupCommunicator[] g = w.all(OPTIONS);
        w.transports.get(1).close();
        Throwable first = thrown(() -> g[0].allReduce(random(ElementType.I32, 5, 0), ElementType.I32, ReduceOp.MAX));
        assertThat(first).isInstanceOf(CommException.class).hasMessageContaining("rank 1");
        long t0 = System.nanoTime();
        Throwable next = thrown(() -> g[0].broadcast(random(ElementType.I32, 5, 0), 0));
        assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(500);
        assertThat(next).isInstanceOf(CommException.class)
                .hasMessageStartingWith("broadcast on group g[0,1,2] (seq 1): group failed earlier: all_reduce")
                .hasCause(first);
        assertThat(((CommException) next).peer()).isEqualTo(1);
    }

    @Test
    void silentRankTimesOutNamingIt() {
        World w = world(3);
        w.faulty = true;
        GroupCommunicator[] g = w.group(4, new int[] {0, 2, 1}, OPTIONS.withDeadline(Duration.ofMillis(500)));
        // group ranks 0 and 1 (global 0 and 2) all-reduce; group rank 2 (global 1) is alive but never joins
        List<Outcome> out = onRanks(2, r -> {
            long t0 = System.nanoTime();
            Throwable e = thrown(() -> g[r].allReduce(random(ElementType.I64, 3, r), ElementType.I64, ReduceOp.SUM));
            return new Outcome(e, (System.nanoTime() - t0) / 1_000_000);
        });
        for (Outcome o : out) {
            assertThat(o.error()).isInstanceOf(CommTimeoutException.class)
                    .hasMessage("all_reduce on group g[0,2,1] (seq 0): rank 1 did not answer within 500 ms");
            assertThat(((CommException) o.error()).peer()).isEqualTo(1);
            assertThat(o.millis()).isBetween(450L, 2500L);
        }
    }

    @Test
    void recvFromASilentPeerTimesOutAndSendToADeadPeerFails() {
        World w = world(2);
        w.faulty = true;
        GroupCommunicator[] g = w.all(OPTIONS.withDeadline(Duration.ofMillis(300)));
        Throwable e = thrown(() -> g[0].recv(ByteBuffer.allocate(4), 1, 5));
        assertThat(e).isInstanceOf(CommTimeoutException.class).hasMessageStartingWith("recv on group g[0,1] (tag 5 #0): rank 1");
        w.transports.get(0).close();
        assertThat(thrown(() -> g[1].send(ByteBuffer.allocate(4), 0, 1)))
                .isInstanceOf(CommException.class).hasMessageStartingWith("send on group g[0,1] (tag 1 #0): rank 0");
    }
}
