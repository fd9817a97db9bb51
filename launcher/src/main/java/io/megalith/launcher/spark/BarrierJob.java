package io.megalith.launcher.spark;

import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.SparkSession;
import scala.collection.Iterator;
import scala.collection.Iterator$;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/**
 * Runs the ranks of a Megalith job as the tasks of one Spark barrier stage: Spark starts all of them at once
 * or none, and a failure of any of them fails them all. Rank {@code r} is partition {@code r}.
 *
 * <p>The job's {@link JobSecret} is made on the driver and reaches the tasks as a {@link Broadcast} of a
 * {@code JobSecret}: neither Spark's logs, nor the UI (job and stage descriptions, local properties, the
 * environment page) nor exception messages ever print a broadcast's value, and {@code JobSecret.toString()} is
 * redacted for whatever else prints it (e.g. Spark's serialization debugger). The broadcast is destroyed when
 * the job ends, so executors do not keep the secret in their block managers. Like every task closure, it
 * crosses the network as plain serialized bytes unless Spark's RPC encryption is on
 * ({@code spark.authenticate}, {@code spark.network.crypto.enabled}): turn it on where the network is untrusted.
 */
public final class BarrierJob {
    /** Thread-local Spark properties this class sets for its job and restores afterwards. */
    private static final List<String> LOCAL_PROPERTIES = List.of("spark.jobGroup.id", "spark.job.description",
            "spark.job.interruptOnCancel", "callSite.short", "callSite.long");

    private BarrierJob() {
    }

    /** {@link #run(JavaSparkContext, String, int, RankTask)} on the session's context. */
    public static <R> List<R> run(SparkSession spark, String jobName, int ranks, RankTask<R> task) {
        return run(JavaSparkContext.fromSparkContext(spark.sparkContext()), jobName, ranks, task);
    }

    /**
     * Runs {@code ranks} copies of {@code task} at once, one per rank, and returns their results ordered by
     * rank. The Spark UI names the job and its stage {@code megalith: <jobName>}.
     *
     * @throws InsufficientSlotsException before submitting anything, if the cluster cannot run {@code ranks}
     *         tasks at once (a barrier stage would otherwise wait for slots)
     * @throws BarrierJobException if a rank threw, or Spark failed or cancelled the stage; its message holds
     *         the failed task's error
     */
    public static <R> List<R> run(JavaSparkContext sc, String jobName, int ranks, RankTask<R> task) {
        Objects.requireNonNull(task, "task");
        if (jobName == null || jobName.isBlank()) {
            throw new IllegalArgumentException("a barrier job needs a name");
        }
        if (ranks < 1) {
            throw new IllegalArgumentException("world size must be at least 1, not " + ranks);
        }
        TaskSlots.require(sc.sc(), ranks);

        String label = "megalith: " + jobName;
        List<String> saved = LOCAL_PROPERTIES.stream().map(sc::getLocalProperty).toList();
        Broadcast<JobSecret> secret = sc.broadcast(JobSecret.random());
        try {
            // interruptOnCancel: cancelling the group interrupts ranks blocked in I/O instead of waiting for them
            sc.setJobGroup("megalith-" + jobName + "-" + secret.id(), label, true);
            sc.sc().setCallSite(label); // names the stage and the RDDs created below
            List<Integer> seeds = IntStream.range(0, ranks).boxed().toList();
            RDD<Integer> partitions = sc.parallelize(seeds, ranks).rdd().setName(label + " (ranks)");
            @SuppressWarnings("unchecked")
            ClassTag<Ranked<R>> tag = (ClassTag<Ranked<R>>) (ClassTag<?>) ClassTag$.MODULE$.apply(Ranked.class);
            RDD<Ranked<R>> results = partitions.barrier()
                    .mapPartitions(new RankFunction<>(jobName, task, secret), false, tag)
                    .setName(label);
            List<Ranked<R>> collected;
            try {
                collected = results.toJavaRDD().collect();
            } catch (Exception e) { // SparkException, which Java does not know collect() throws
                throw new BarrierJobException(jobName, ranks, e);
            }
            return byRank(collected, ranks);
        } finally {
            for (int i = 0; i < LOCAL_PROPERTIES.size(); i++) {
                sc.setLocalProperty(LOCAL_PROPERTIES.get(i), saved.get(i));
            }
            secret.destroy();
        }
    }

    private static <R> List<R> byRank(List<Ranked<R>> results, int ranks) {
        if (results.size() != ranks) {
            throw new IllegalStateException(results.size() + " results for " + ranks + " ranks");
        }
        List<R> out = new ArrayList<>(ranks);
        for (int r = 0; r < ranks; r++) {
            out.add(null);
        }
        boolean[] seen = new boolean[ranks];
        for (Ranked<R> x : results) {
            if (seen[x.rank()]) {
                throw new IllegalStateException("two results for rank " + x.rank());
            }
            seen[x.rank()] = true;
            out.set(x.rank(), x.value());
        }
        return out;
    }

    /** A rank's result with its rank, so the driver can check it got exactly one per rank. */
    record Ranked<R>(int rank, R value) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
    }

    /**
     * The body of every barrier task. A named Serializable class rather than a lambda: Spark's closure cleaner
     * and Java serialization both handle it plainly, and it captures exactly these three fields.
     */
    private static final class RankFunction<R> extends AbstractFunction1<Iterator<Integer>, Iterator<Ranked<R>>>
            implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
        private final String jobName;
        private final RankTask<R> task;
        private final Broadcast<JobSecret> secret;

        RankFunction(String jobName, RankTask<R> task, Broadcast<JobSecret> secret) {
            this.jobName = jobName;
            this.task = task;
            this.secret = secret;
        }

        @Override
        public Iterator<Ranked<R>> apply(Iterator<Integer> ignored) {
            BarrierTaskContext spark = BarrierTaskContext.get();
            int rank = spark.partitionId();
            String address = spark.getTaskInfos()[rank].address();
            String host = address.contains(":") ? address.substring(0, address.lastIndexOf(':')) : address;
            RankContext ctx = new RankContext(jobName, rank, spark.getTaskInfos().length, spark.stageId(),
                    spark.stageAttemptNumber(), spark.attemptNumber(), spark.taskAttemptId(), host,
                    new SparkRendezvous(spark), secret.value());
            R value;
            try {
                value = task.run(ctx);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException("rank " + rank + " of " + jobName + " failed: " + e, e);
            }
            return Iterator$.MODULE$.single(new Ranked<>(rank, value));
        }
    }
}
