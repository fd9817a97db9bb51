package io.megalith.parallel.transport;

import io.megalith.comm.CommTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@link Rendezvous} for ranks that are threads of one JVM (tests, single-machine runs). One instance
 * serves one job; once all ranks have published, the next calls start a new round, so the same job can
 * exchange addresses again (e.g. after re-creating its transports).
 */
public final class InJvmRendezvous implements Rendezvous {
    private final int worldSize;
    private final Duration timeout;
    private Round round; // guarded by this

    private static final class Round {
        final PeerAddress[] addresses;
        int published;

        Round(int n) {
            addresses = new PeerAddress[n];
        }
    }

    /** @param timeout how long {@link #exchange} waits for the other ranks before it fails */
    public InJvmRendezvous(int worldSize, Duration timeout) {
        if (worldSize < 1) throw new IllegalArgumentException("worldSize must be >= 1");
        this.worldSize = worldSize;
        this.timeout = timeout;
        this.round = new Round(worldSize);
    }

    /**
     * Publishes {@code mine} and waits until every rank has; throws {@link CommTimeoutException} naming the
     * first missing rank after the timeout. A rank that timed out has withdrawn its address and may call again.
     */
    @Override
    public synchronized List<PeerAddress> exchange(PeerAddress mine) {
        int r = mine.rank();
        if (r < 0 || r >= worldSize) throw new IllegalArgumentException("rank " + r + " out of range [0, " + worldSize + ")");
        Round mineRound = round;
        if (mineRound.addresses[r] == null) mineRound.published++; // else the same rank again: keep the newest address
        mineRound.addresses[r] = mine;
        if (mineRound.published == worldSize) {
            round = new Round(worldSize); // later calls belong to the next round
            notifyAll();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        long left;
        while (mineRound.published < worldSize && (left = deadline - System.nanoTime()) > 0) {
            try {
                TimeUnit.NANOSECONDS.timedWait(this, left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted in rendezvous", e);
            }
        }
        if (mineRound.published < worldSize) {
            List<Integer> missing = new ArrayList<>();
            for (int p = 0; p < worldSize; p++) if (mineRound.addresses[p] == null) missing.add(p);
            mineRound.addresses[r] = null; // withdraw: a rank that gave up must not be handed out (it may retry)
            mineRound.published--;
            throw new CommTimeoutException("rendezvous: ranks " + missing + " did not publish within " + timeout.toMillis() + " ms",
                    missing.isEmpty() ? -1 : missing.get(0));
        }
        return List.copyOf(Arrays.asList(mineRound.addresses));
    }
}
