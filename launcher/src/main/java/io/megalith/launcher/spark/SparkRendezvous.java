package io.megalith.launcher.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.parallel.transport.PeerAddress;
import io.megalith.parallel.transport.Rendezvous;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.TaskContext;

/**
 * The rendezvous of ranks that run as the tasks of one Spark barrier stage: one
 * {@link BarrierTaskContext#allGather} of each rank's address as JSON. Spark returns the messages ordered by
 * partition id, which is the rank. It blocks until every task of the stage has called it, or fails after
 * {@code spark.barrier.sync.timeout} (or when the stage fails). Each call costs at least a second (Spark polls
 * the coordinator once a second), so a job exchanges addresses once, then talks over its own connections.
 */
public final class SparkRendezvous implements Rendezvous {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final BarrierTaskContext context;

    /** The rendezvous of the barrier task {@code context}. */
    public SparkRendezvous(BarrierTaskContext context) {
        this.context = Objects.requireNonNull(context, "context");
    }

    /** The rendezvous of the barrier task running in this thread. */
    public static SparkRendezvous ofCurrentTask() {
        TaskContext task = TaskContext.get();
        if (!(task instanceof BarrierTaskContext barrier)) {
            throw new IllegalStateException(task == null ? "not inside a Spark task"
                    : "not inside a barrier stage: run the ranks with BarrierJob (rdd.barrier())");
        }
        return new SparkRendezvous(barrier);
    }

    @Override
    public List<PeerAddress> exchange(PeerAddress mine) {
        int rank = context.partitionId();
        if (mine.rank() != rank) {
            throw new IllegalArgumentException("rank " + rank + " (partition " + rank + ") published the address of rank "
                    + mine.rank() + ": " + mine);
        }
        return decode(context.allGather(encode(mine)), context.getTaskInfos().length);
    }

    static String encode(PeerAddress address) {
        try {
            return JSON.writeValueAsString(address);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + address + " as JSON", e);
        }
    }

    /** Parses the gathered messages and checks that message {@code i} is rank {@code i}'s, for every rank. */
    static List<PeerAddress> decode(String[] messages, int worldSize) {
        if (messages.length != worldSize) {
            throw new IllegalStateException("rendezvous returned " + messages.length + " addresses for " + worldSize + " ranks");
        }
        List<PeerAddress> all = new ArrayList<>(messages.length);
        for (int i = 0; i < messages.length; i++) {
            PeerAddress a;
            try {
                a = JSON.readValue(messages[i], PeerAddress.class);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("rendezvous message " + i + " is not a peer address: " + messages[i], e);
            }
            if (a.rank() != i) {
                throw new IllegalStateException("rendezvous message " + i + " holds the address of rank " + a.rank()
                        + ", expected rank " + i + ": " + a);
            }
            all.add(a);
        }
        return List.copyOf(all);
    }
}
