package io.megalith.parallel.transport.netty;

import java.util.List;
import java.util.function.IntFunction;

/** N ranks as threads of the test JVM, connected over loopback; closing it closes them all. */
final class Cluster implements AutoCloseable {
    private final List<NettyTransport> ranks;

    private Cluster(List<NettyTransport> ranks) {
        this.ranks = ranks;
    }

    static Cluster start(int n, String jobId) {
        return start(n, r -> TestSupport.cfg(jobId));
    }

    static Cluster start(int n, IntFunction<TransportConfig> cfg) {
        List<Object> outcomes = TestSupport.startAll(n, cfg, TestSupport.rendezvous(n));
        for (Object o : outcomes) {
            if (o instanceof Throwable t) {
                TestSupport.closeAll(outcomes);
                throw new AssertionError("a rank failed to start", t);
            }
        }
        return new Cluster(outcomes.stream().map(NettyTransport.class::cast).toList());
    }

    NettyTransport rank(int r) {
        return ranks.get(r);
    }

    int size() {
        return ranks.size();
    }

    @Override
    public void close() {
        TestSupport.closeAll(ranks);
    }
}
