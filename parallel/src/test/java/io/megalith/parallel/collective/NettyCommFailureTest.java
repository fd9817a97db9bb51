package io.megalith.parallel.collective;

import io.megalith.parallel.transport.Transport;
import java.util.List;

/**
 * The failure tests over real sockets: a rank whose thread closes its transport (all its channels) in
 * the middle of an all-reduce makes the others fail, naming it, instead of hanging.
 */
class NettyCommFailureTest extends AbstractCommFailureTest {
    @Override
    protected List<Transport> createTransports(int n) {
        return NettyTransports.start(n);
    }
}
