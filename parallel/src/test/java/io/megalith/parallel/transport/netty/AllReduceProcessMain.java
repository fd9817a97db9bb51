package io.megalith.parallel.transport.netty;

import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;

/**
 * A rank in its own JVM that all-reduces 4 MiB of floats in a loop with the ranks of the test JVM:
 * {@code <rendezvousDir> <rank> <worldSize> <jobId>}, secret (hex) in MEGALITH_TEST_SECRET. Prints
 * "ITERATION n" after each all-reduce, until it is killed.
 */
public final class AllReduceProcessMain {
    private AllReduceProcessMain() {}

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[1]);
        int world = Integer.parseInt(args[2]);
        byte[] secret = HexFormat.of().parseHex(System.getenv("MEGALITH_TEST_SECRET"));
        TransportConfig cfg = TransportConfig.of(args[3], secret).withConnectTimeout(Duration.ofSeconds(30));
        NettyTransport t = NettyTransport.start(rank, world, cfg,
                new FileRendezvous(Path.of(args[0]), world, Duration.ofSeconds(30)));
        int[] all = new int[world];
        for (int r = 0; r < world; r++) {
            all[r] = r;
        }
        GroupCommunicator g = new GroupCommunicator(t, 0, "world", all, CommOptions.defaults());
        ByteBuffer buf = ByteBuffer.allocateDirect(4 << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; ; i++) {
            g.allReduce(buf, ElementType.F32, ReduceOp.SUM);
            System.out.println("ITERATION " + i);
            System.out.flush();
        }
    }
}
