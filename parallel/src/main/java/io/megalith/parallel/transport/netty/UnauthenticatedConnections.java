package io.megalith.parallel.transport.netty;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;

/**
 * Counts one rank's accepted connections that have not authenticated yet, in total and per remote
 * address, and decides whether a new one may be kept. Anyone who reaches the port can open such
 * connections; without a cap, idle sockets pile up (file descriptors, buffers, handshake timers).
 *
 * <p>Why a reserve: the only legitimate incoming connections are from the lower ranks that have not
 * connected yet, and strangers could fill the cap just before they dial. So each such rank reserves one
 * slot beyond both caps for connections from the host it published. A stranger on that same host can
 * take the reserved slot too; the dialling rank then retries until its connect deadline.
 * Authenticated connections are not counted at all. Thread-safe.
 */
final class UnauthenticatedConnections {
    private final HandshakeLimits limits;
    private final Map<InetAddress, Integer> pendingByAddress = new HashMap<>();
    private final Map<InetAddress, Integer> expectedByAddress = new HashMap<>();
    private int pending;
    private int expected;

    UnauthenticatedConnections(HandshakeLimits limits) {
        this.limits = limits;
    }

    /** Null and counted if a connection from {@code from} may be kept, else which cap it exceeds. */
    synchronized String admit(InetAddress from) {
        int reserve = expectedByAddress.getOrDefault(from, 0);
        int here = pendingByAddress.getOrDefault(from, 0);
        if (here >= limits.maxPerAddress() + reserve) return "per-address";
        if (pending >= limits.maxPerRank() + (reserve > 0 ? expected : 0)) return "per-rank";
        pendingByAddress.put(from, here + 1);
        pending++;
        return null;
    }

    /** The connection admitted from {@code from} authenticated or closed. */
    synchronized void release(InetAddress from) {
        pendingByAddress.computeIfPresent(from, (a, n) -> n > 1 ? n - 1 : null);
        pending--;
    }

    /** A rank that must still dial this one published {@code host}. */
    synchronized void expect(InetAddress host) {
        expectedByAddress.merge(host, 1, Integer::sum);
        expected++;
    }

    /** A rank announced with {@link #expect} has connected and authenticated. */
    synchronized void arrived(InetAddress host) {
        Integer n = expectedByAddress.get(host);
        if (n == null) return;
        if (n > 1) expectedByAddress.put(host, n - 1);
        else expectedByAddress.remove(host);
        expected--;
    }

    synchronized int pending() {
        return pending;
    }
}
