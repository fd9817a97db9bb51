package io.megalith.parallel.transport.netty;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The counting behind the caps: per address, per rank, the reserve of expected ranks, and release. */
class UnauthenticatedConnectionsTest {
    private static final HandshakeLimits LIMITS = new HandshakeLimits(4, 2, Duration.ofSeconds(1), Duration.ofSeconds(1));

    @Test
    void capsPerAddressAndPerRankWithOneReservedSlotPerExpectedRank() throws Exception {
        InetAddress a = InetAddress.getByName("10.0.0.1");
        InetAddress b = InetAddress.getByName("10.0.0.2");
        InetAddress rankHost = InetAddress.getByName("10.0.0.9");
        UnauthenticatedConnections u = new UnauthenticatedConnections(LIMITS);
        u.expect(rankHost);
        assertThat(u.admit(a)).isNull();
        assertThat(u.admit(a)).isNull();
        assertThat(u.admit(a)).isEqualTo("per-address");
        assertThat(u.admit(b)).isNull();
        assertThat(u.admit(b)).isNull();
        assertThat(u.pending()).isEqualTo(4);
        assertThat(u.admit(InetAddress.getByName("10.0.0.3"))).isEqualTo("per-rank");
        assertThat(u.admit(rankHost)).as("the expected rank's reserved slot").isNull();
        assertThat(u.admit(rankHost)).isEqualTo("per-rank");
        u.arrived(rankHost); // that rank authenticated: no reserve any more
        u.release(rankHost);
        assertThat(u.admit(rankHost)).isEqualTo("per-rank");
        u.release(a);
        assertThat(u.pending()).isEqualTo(3);
        assertThat(u.admit(rankHost)).isNull();
        u.arrived(rankHost); // a second arrival from an address no longer expected changes nothing
        assertThat(u.admit(a)).isEqualTo("per-rank");
    }
}
