package io.megalith.parallel.transport.netty;

import java.time.Duration;
import java.util.Objects;

/**
 * Bounds on connections that have not authenticated yet (anyone who can reach the port can open them).
 * Authenticated connections, the job's real ranks, are never counted.
 *
 * @param maxPerRank most unauthenticated connections a rank holds at once; beyond it new ones are closed
 *     at once (connections from the hosts of ranks that still have to dial in get one extra slot each,
 *     so strangers filling the cap do not lock the job out)
 * @param maxPerAddress most unauthenticated connections from one remote address (plus the same reserve)
 * @param handshakeTimeout how long an accepted connection may take to authenticate (at most the
 *     transport's connect timeout): an honest rank sends its hello as soon as it connects, so an idle
 *     socket should not hold a slot for the whole connect timeout
 * @param refusalLogInterval cap refusals are logged at most once per interval, with their count
 */
public record HandshakeLimits(int maxPerRank, int maxPerAddress, Duration handshakeTimeout, Duration refusalLogInterval) {
    /** 64 per rank, 8 per address, 10 s to authenticate, one refusal line per 10 s. */
    public static final HandshakeLimits DEFAULTS = new HandshakeLimits(64, 8, Duration.ofSeconds(10), Duration.ofSeconds(10));

    public HandshakeLimits {
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        Objects.requireNonNull(refusalLogInterval, "refusalLogInterval");
        if (maxPerRank < 1 || maxPerAddress < 1 || maxPerAddress > maxPerRank) {
            throw new IllegalArgumentException("need 1 <= maxPerAddress <= maxPerRank, got " + maxPerAddress + " and " + maxPerRank);
        }
        if (handshakeTimeout.isNegative() || handshakeTimeout.isZero()) throw new IllegalArgumentException("handshakeTimeout must be positive");
        if (refusalLogInterval.isNegative() || refusalLogInterval.isZero()) {
            throw new IllegalArgumentException("refusalLogInterval must be positive");
        }
    }
}
