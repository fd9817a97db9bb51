package io.megalith.launcher.spark;

import io.megalith.parallel.transport.Rendezvous;
import java.util.Objects;

/**
 * What a rank of a {@link BarrierJob} knows about itself and its job.
 *
 * @param jobName the name given to {@link BarrierJob#run}
 * @param rank this rank, {@code 0 <= rank < worldSize}; equal to the Spark partition id
 * @param worldSize the number of ranks, all running at once in one barrier stage
 * @param stageId the Spark stage running the ranks
 * @param stageAttempt the attempt of that stage ({@code > 0} after Spark retried the whole stage)
 * @param taskAttempt the attempt of this task
 * @param taskAttemptId Spark's id of this task attempt, unique within the application
 * @param executorHost the host Spark knows this rank's executor by: where peers can reach it
 * @param rendezvous exchanges this rank's listening address with every rank's, once per job
 * @param secret the job's secret, the same in every rank and never logged (see {@link JobSecret})
 */
public record RankContext(String jobName, int rank, int worldSize, int stageId, int stageAttempt, int taskAttempt,
                          long taskAttemptId, String executorHost, Rendezvous rendezvous, JobSecret secret) {
    public RankContext {
        Objects.requireNonNull(jobName, "jobName");
        Objects.requireNonNull(executorHost, "executorHost");
        Objects.requireNonNull(rendezvous, "rendezvous");
        Objects.requireNonNull(secret, "secret");
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " outside world size " + worldSize);
        }
    }
}
