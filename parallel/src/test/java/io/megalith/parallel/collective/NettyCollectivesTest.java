package io.megalith.parallel.collective;

import io.megalith.parallel.transport.Transport;
import java.util.List;

/** Every collective test, over real Netty sockets on loopback instead of the in-JVM fabric. */
class NettyCollectivesTest extends AbstractCollectivesTest {
    @Override
    protected List<Transport> createTransports(int n) {
        return NettyTransports.start(n);
    }
}
