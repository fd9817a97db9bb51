package io.megalith.parallel.transport;

import java.util.List;

/**
 * How the ranks of a job learn each other's addresses before they connect. An in-JVM implementation
 * serves tests; the Spark launcher implements it with {@code BarrierTaskContext.allGather}.
 */
public interface Rendezvous {
    /**
     * Publishes this rank's address and returns every rank's, indexed by rank. Blocks until all ranks of
     * the job have published, or fails after the rendezvous' own timeout.
     */
    List<PeerAddress> exchange(PeerAddress mine);
}
