package io.megalith.parallel.transport.netty;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;

/**
 * A rank in its own JVM, for the process-kill test: {@code <rendezvousDir> <rank> <worldSize> <jobId>},
 * secret (hex) in the environment variable MEGALITH_TEST_SECRET so it is not visible in the process list.
 * Connects, prints READY, then stays silent until killed.
 */
public final class PeerProcessMain {
    private PeerProcessMain() {}

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[1]);
        int worldSize = Integer.parseInt(args[2]);
        byte[] secret = HexFormat.of().parseHex(System.getenv("MEGALITH_TEST_SECRET"));
        TransportConfig cfg = TransportConfig.of(args[3], secret).withConnectTimeout(Duration.ofSeconds(30));
        NettyTransport t = NettyTransport.start(rank, worldSize, cfg, new FileRendezvous(Path.of(args[0]), worldSize, Duration.ofSeconds(30)));
        System.out.println("READY rank " + t.rank());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
