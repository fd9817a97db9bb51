package io.megalith.parallel.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class InJvmRendezvousTest {
    private static <T> CompletableFuture<T> async(Supplier<T> task) {
        CompletableFuture<T> f = new CompletableFuture<>();
        new Thread(() -> {
            try {
                f.complete(task.get());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }).start();
        return f;
    }

    @Test
    void everyRankGetsEveryAddressByRankAndTheInstanceServesAgain() {
        InJvmRendezvous r = new InJvmRendezvous(3, Duration.ofSeconds(5));
        for (int round = 0; round < 2; round++) {
            int port0 = 1000 * (round + 1);
            List<CompletableFuture<List<PeerAddress>>> got = new ArrayList<>();
            for (int rank : new int[] {2, 0, 1}) { // publication order does not matter
                got.add(async(() -> r.exchange(new PeerAddress(rank, "h" + rank, port0 + rank))));
            }
            List<PeerAddress> expected = List.of(new PeerAddress(0, "h0", port0), new PeerAddress(1, "h1", port0 + 1),
                    new PeerAddress(2, "h2", port0 + 2));
            for (CompletableFuture<List<PeerAddress>> f : got) assertThat(f.join()).isEqualTo(expected);
        }
    }

    @Test
    void timesOutNamingTheMissingRanksAndLetsTheRankRetry() {
        InJvmRendezvous r = new InJvmRendezvous(3, Duration.ofMillis(200));
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> r.exchange(new PeerAddress(2, "h", 3))).isInstanceOf(CommTimeoutException.class)
                .hasMessageContaining("ranks [0, 1] did not publish within 200 ms")
                .satisfies(e -> assertThat(((CommException) e).peer()).isEqualTo(0));
        assertThat((System.nanoTime() - t0) / 1_000_000).isBetween(150L, 1500L);
        assertThatThrownBy(() -> r.exchange(new PeerAddress(3, "h", 1))).isInstanceOf(IllegalArgumentException.class);
        // the stale address of the attempt that gave up is never handed out
        List<CompletableFuture<List<PeerAddress>>> retry = new ArrayList<>();
        for (int rank = 0; rank < 3; rank++) {
            int rk = rank;
            retry.add(async(() -> r.exchange(new PeerAddress(rk, "retry", 50 + rk))));
        }
        for (CompletableFuture<List<PeerAddress>> f : retry) {
            assertThat(f.join()).extracting(PeerAddress::port).containsExactly(50, 51, 52);
        }
    }
}
