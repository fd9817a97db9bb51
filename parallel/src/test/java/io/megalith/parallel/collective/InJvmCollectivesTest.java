package io.megalith.parallel.collective;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.Transport;
import io.megalith.parallel.transport.local.InJvmFabric;
import io.megalith.parallel.transport.local.InJvmTransport;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The collective tests over the in-JVM fabric, which also checks every received message is released. */
class InJvmCollectivesTest extends AbstractCollectivesTest {
    @Override
    protected List<Transport> createTransports(int n) {
        return new InJvmFabric(n).transports();
    }

    @Override
    protected void assertClean(List<Transport> transports) {
        assertThat(((InJvmTransport) transports.get(0)).fabric().unreleasedMessages())
                .as("messages received but never released").isZero();
    }

    @Test
    void groupOfOneSendsNoMessages() {
        World w = world(2);
        GroupCommunicator[] g = w.group(3, new int[] {1}, SMALL);
        ByteBuffer buf = random(ElementType.F32, 100_000, 1);
        ByteBuffer out = ByteBuffer.allocate(buf.remaining());
        g[0].allReduce(buf, ElementType.F32, ReduceOp.AVG);
        g[0].reduceScatter(buf, out, ElementType.F32, ReduceOp.SUM);
        g[0].allGather(buf, out, ElementType.F32);
        g[0].broadcast(buf, 0);
        g[0].barrier();
        ByteBuffer[] back = g[0].allToAll(new ByteBuffer[] {buf});
        assertSameBytes(buf, random(ElementType.F32, 100_000, 1), "unchanged");
        assertSameBytes(out, buf, "copied");
        assertSameBytes(back[0], buf, "all_to_all to itself");
        assertThat(((InJvmTransport) w.transports.get(0)).fabric().messagesSent()).isZero();
    }

    @Test
    void ringAllReduceSendsTwoTimesNMinusOneOverNOfTheBuffer() {
        World w = world(4);
        GroupCommunicator[] g = w.all(SMALL);
        int count = 4 * 1024 * 8; // 8 chunks of 1024 floats per segment
        onRanks(4, r -> {
            g[r].allReduce(random(ElementType.F32, count, r), ElementType.F32, ReduceOp.SUM);
            return null;
        });
        // per rank: 2 phases x 3 steps x 8 chunks of one segment = 2 (n-1)/n of the buffer, in chunks
        assertThat(((InJvmTransport) w.transports.get(0)).fabric().messagesSent()).isEqualTo(4 * 2 * 3 * 8);
    }

    @Test
    void bf16WireHalvesTheBytesOfAnF32RingAllReduce() {
        long[] bytes = new long[2];
        for (int bf16 = 0; bf16 < 2; bf16++) {
            World w = world(4);
            GroupCommunicator[] g = w.all(SMALL.withBf16Wire(bf16 == 1));
            onRanks(4, r -> {
                g[r].allReduce(random(ElementType.F32, 40_000, r), ElementType.F32, ReduceOp.SUM);
                return null;
            });
            bytes[bf16] = ((InJvmTransport) w.transports.get(0)).fabric().bytesSent();
        }
        assertThat(bytes[0]).isEqualTo(4 * 2 * 3 * 10_000 * 4); // 4 ranks x 2(n-1) steps x a segment of floats
        assertThat(bytes[1]).isEqualTo(bytes[0] / 2);
    }
}
