package io.megalith.launcher.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.parallel.transport.PeerAddress;
import org.junit.jupiter.api.Test;

/** The wire format and checks of {@link SparkRendezvous}, without Spark. */
class SparkRendezvousTest {
    @Test
    void addressesRoundTripInRankOrder() {
        String[] messages = {SparkRendezvous.encode(new PeerAddress(0, "10.0.0.5", 4100)),
                SparkRendezvous.encode(new PeerAddress(1, "host-b.example", 4101))};
        assertThat(SparkRendezvous.decode(messages, 2)).containsExactly(new PeerAddress(0, "10.0.0.5", 4100),
                new PeerAddress(1, "host-b.example", 4101));
    }

    @Test
    void aMessageInTheWrongPlaceIsRejected() {
        String[] swapped = {SparkRendezvous.encode(new PeerAddress(1, "b", 2)), SparkRendezvous.encode(new PeerAddress(0, "a", 1))};
        assertThatThrownBy(() -> SparkRendezvous.decode(swapped, 2)).hasMessageContaining("message 0 holds the address of rank 1");
    }

    @Test
    void aMissingRankOrGarbageIsRejected() {
        String[] one = {SparkRendezvous.encode(new PeerAddress(0, "a", 1))};
        assertThatThrownBy(() -> SparkRendezvous.decode(one, 2)).hasMessageContaining("1 addresses for 2 ranks");
        assertThatThrownBy(() -> SparkRendezvous.decode(new String[] {"not json"}, 1))
                .hasMessageContaining("message 0 is not a peer address");
    }

    @Test
    void outsideASparkTaskItSaysSo() {
        assertThatThrownBy(SparkRendezvous::ofCurrentTask).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not inside a Spark task");
    }
}
