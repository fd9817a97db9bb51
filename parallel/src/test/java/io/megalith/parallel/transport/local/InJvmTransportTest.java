package io.megalith.parallel.transport.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class InJvmTransportTest {
    private static final MessageKey K = new MessageKey(1, 2, 3);

    private static long in(long millis) {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    @Test
    void sendCopiesThePayloadAndCompletesAtOnce() {
        try (InJvmFabric f = new InJvmFabric(2)) {
            ByteBuffer b = ByteBuffer.wrap(new byte[] {1, 2, 3, 4}).position(1);
            CompletableFuture<Void> sent = f.transport(0).send(1, K, b);
            assertThat(sent).isCompleted();
            b.put(1, (byte) 9); // the sender's buffer is free again
            assertThat(b.position()).isEqualTo(1);
            try (Message m = f.transport(1).receive(0, K, in(100))) {
                assertThat(m.payload().remaining()).isEqualTo(3);
                assertThat(m.payload().get(0)).isEqualTo((byte) 2);
                assertThat(f.unreleasedMessages()).isEqualTo(1);
            }
            assertThat(f.unreleasedMessages()).isZero();
        }
    }

    @Test
    void receiveWaitsForALaterSendAndKeysDoNotMix() throws Exception {
        try (InJvmFabric f = new InJvmFabric(3)) {
            CompletableFuture<Byte> got = CompletableFuture.supplyAsync(() -> {
                try (Message m = f.transport(2).receive(1, K, in(5000))) {
                    return m.payload().get(0);
                }
            });
            Thread.sleep(50);
            assertThat(got).isNotDone();
            f.transport(0).send(2, K, ByteBuffer.wrap(new byte[] {7})); // other peer
            f.transport(1).send(2, new MessageKey(1, 2, 4), ByteBuffer.wrap(new byte[] {8})); // other tag
            f.transport(1).send(2, K, ByteBuffer.wrap(new byte[] {9}));
            assertThat(got.get(5, TimeUnit.SECONDS)).isEqualTo((byte) 9);
            try (Message m = f.transport(2).receive(0, K, in(100))) {
                assertThat(m.payload().get(0)).isEqualTo((byte) 7);
            }
        }
    }

    @Test
    void receivePastItsDeadlineTimesOutNamingThePeer() {
        try (InJvmFabric f = new InJvmFabric(2)) {
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> f.transport(0).receive(1, K, in(200)))
                    .isInstanceOf(CommTimeoutException.class).hasMessageStartingWith("rank 1 sent no message")
                    .satisfies(e -> assertThat(((CommException) e).peer()).isEqualTo(1));
            assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(190));
        }
    }

    @Test
    void killFailsPendingAndLaterReceivesAndSendsButKeepsWhatArrivedBefore() throws Exception {
        try (InJvmFabric f = new InJvmFabric(3)) {
            f.transport(1).send(0, new MessageKey(0, 0, 1), ByteBuffer.allocate(1));
            CompletableFuture<Message> pending = CompletableFuture.supplyAsync(() -> f.transport(0).receive(1, K, in(10_000)));
            Thread.sleep(50);
            f.kill(1);
            assertThatThrownBy(() -> pending.get(1, TimeUnit.SECONDS)).hasCauseInstanceOf(CommException.class)
                    .hasMessageContaining("rank 1 disconnected");
            assertThatThrownBy(() -> f.transport(2).receive(1, K, in(10_000)))
                    .isInstanceOf(CommException.class).hasMessage("rank 1 disconnected");
            assertThat(f.transport(0).send(1, K, ByteBuffer.allocate(1))).isCompletedExceptionally();
            assertThat(f.transport(1).send(0, K, ByteBuffer.allocate(1))).isCompletedExceptionally();
            assertThat(f.transport(0).isAlive(1)).isFalse();
            assertThat(f.transport(0).isAlive(2)).isTrue();
            f.transport(0).receive(1, new MessageKey(0, 0, 1), in(100)).close();
        }
    }

    @Test
    void killAfterSendsLetsTheRankSendThatManyMessages() {
        try (InJvmFabric f = new InJvmFabric(2)) {
            f.killAfterSends(0, 2);
            assertThat(f.transport(0).send(1, new MessageKey(0, 0, 0), ByteBuffer.allocate(1))).isCompleted();
            assertThat(f.transport(0).send(1, new MessageKey(0, 0, 1), ByteBuffer.allocate(1))).isCompleted();
            assertThat(f.transport(0).send(1, new MessageKey(0, 0, 2), ByteBuffer.allocate(1))).isCompletedExceptionally();
            assertThat(f.isAlive(0)).isFalse();
        }
    }

    @Test
    void payloadIsUnusableAfterClose() {
        try (InJvmFabric f = new InJvmFabric(1)) {
            f.transport(0).send(0, K, ByteBuffer.allocate(4)); // to itself
            Message m = f.transport(0).receive(0, K, in(100));
            m.close();
            assertThatThrownBy(m::payload).isInstanceOf(IllegalStateException.class);
        }
    }
}
