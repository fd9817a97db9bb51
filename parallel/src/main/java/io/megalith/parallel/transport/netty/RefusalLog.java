package io.megalith.parallel.transport.netty;

import io.netty.util.concurrent.EventExecutor;
import java.net.InetAddress;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * Logs connections closed for exceeding the unauthenticated-connection caps at most once per interval,
 * with how many there were: a flood of sockets must not become a flood of log lines. The first refusal
 * after a quiet interval is logged at once; later ones are counted and reported when the interval ends.
 */
final class RefusalLog {
    private final Logger log;
    private final int rank;
    private final HandshakeLimits limits;
    private final EventExecutor timer;
    private final long intervalNanos;
    private long lastLineNanos; // guarded by this
    private boolean lineLogged; // guarded by this: false until the first line
    private boolean flushScheduled; // guarded by this
    private int perRank; // guarded by this: refusals not yet logged
    private int perAddress; // guarded by this
    private InetAddress latest; // guarded by this

    RefusalLog(Logger log, int rank, HandshakeLimits limits, EventExecutor timer) {
        this.log = log;
        this.rank = rank;
        this.limits = limits;
        this.timer = timer;
        this.intervalNanos = limits.refusalLogInterval().toNanos();
    }

    /** A connection from {@code from} was closed because it exceeded {@code cap} ("per-rank" or "per-address"). */
    synchronized void refused(InetAddress from, String cap) {
        if (cap.equals("per-address")) perAddress++;
        else perRank++;
        latest = from;
        if (flushScheduled) return;
        long wait = lineLogged ? lastLineNanos + intervalNanos - System.nanoTime() : 0;
        if (wait <= 0) {
            flush();
        } else {
            try {
                timer.schedule(this::flush, wait, TimeUnit.NANOSECONDS);
                flushScheduled = true;
            } catch (RejectedExecutionException e) {
                flush(); // the transport is closing: say it now or never
            }
        }
    }

    /** Logs what was counted but not yet reported (the transport is closing: its timer will not fire). */
    synchronized void flush() {
        flushScheduled = false;
        int n = perRank + perAddress;
        if (n == 0) return;
        log.warn("rank {}: closed {} unauthenticated connection{} at once ({} over the cap of {} per rank, {} over the cap of {} per "
                + "address; latest from {}); at most one such line per {} ms", rank, n, n == 1 ? "" : "s", perRank,
                limits.maxPerRank(), perAddress, limits.maxPerAddress(), latest, limits.refusalLogInterval().toMillis());
        perRank = 0;
        perAddress = 0;
        lineLogged = true;
        lastLineNanos = System.nanoTime();
    }
}
