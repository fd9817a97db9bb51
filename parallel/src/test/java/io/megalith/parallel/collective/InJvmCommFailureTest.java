package io.megalith.parallel.collective;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.CommException;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.parallel.transport.Transport;
import io.megalith.parallel.transport.local.InJvmFabric;
import io.megalith.parallel.transport.local.InJvmTransport;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The failure tests over the in-JVM fabric, plus one that kills a rank deterministically mid-operation. */
class InJvmCommFailureTest extends AbstractCommFailureTest {
    @Override
    protected List<Transport> createTransports(int n) {
        return new InJvmFabric(n).transports();
    }

    @Test
    void rankDyingInTheMiddleOfTheRingIsNamedByItsNeighbour() {
        World w = world(4);
        w.faulty = true;
        GroupCommunicator[] g = w.all(OPTIONS);
        // rank 2 dies on its 6th send: in the middle of the reduce-scatter (it sends 3 steps x 8 chunks)
        ((InJvmTransport) w.transports.get(2)).fabric().killAfterSends(2, 5);
        List<Throwable> errors = onRanks(4, r -> thrown(
                () -> g[r].allReduce(random(ElementType.F32, 4 * 1024 * 8, r), ElementType.F32, ReduceOp.AVG)));
        assertThat(errors.get(2)).isInstanceOf(CommException.class)
                .hasMessage("all_reduce on group g[0,1,2,3] (seq 0): rank 2 closed");
        assertThat(errors.get(3)).isInstanceOf(CommException.class)
                .hasMessage("all_reduce on group g[0,1,2,3] (seq 0): rank 2 disconnected");
        assertThat(errors.get(0)).isInstanceOf(CommException.class);
        assertThat(errors.get(1)).isInstanceOf(CommException.class);
    }
}
