package io.megalith.launcher.data;

import io.megalith.core.data.shards.PendingShard;
import io.megalith.core.data.shards.ShardSetWriter;
import io.megalith.core.data.shards.TokenDtype;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.JobExecutionStatus;
import org.apache.spark.SparkJobInfo;
import org.apache.spark.SparkStageInfo;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.JavaSparkStatusTracker;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.util.SerializableConfiguration;

/**
 * Tokenizes the input on the executors: every task loads the tokenizer once and streams each piece of its
 * partition into its own shard file in the writer's work directory, named after the partition, the piece and the
 * task attempt (so a retried or speculative attempt never shares a file). The driver gets one small result per
 * piece and commits them in stream order.
 */
final class Tokenization {
    private Tokenization() {}

    /** A tokenized piece: where it starts in the input, its shard, and its documents. */
    record Piece(Pieces.Key key, PendingShard shard, long documents, long skipped) implements Serializable {}

    /** Test seam: runs on the executor after each shard is written (e.g. to crash a preparation midway). */
    interface ShardHook extends Serializable {
        void afterShard(int partition, PendingShard shard) throws Exception;
    }

    /**
     * @param description the Spark job's description
     * @return the pieces in stream order
     */
    static List<Piece> run(JavaRDD<Doc> docs, boolean records, byte[] tokenizerFile, int vocabSize, String workDir,
            Configuration conf, ShardHook hook, String description) {
        TokenDtype dtype = TokenDtype.forVocab(vocabSize);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(docs.context());
        Broadcast<SerializableConfiguration> confB = sc.broadcast(new SerializableConfiguration(conf));
        Broadcast<byte[]> tokB = sc.broadcast(tokenizerFile);
        Map<String, String> caller = new HashMap<>();
        for (String k : JOB_PROPERTIES) {
            caller.put(k, sc.getLocalProperty(k));
        }
        String group = "megalith-data-" + UUID.randomUUID();
        // when the job fails, Spark interrupts its other running tasks (they check between documents)
        sc.setJobGroup(group, description, true);
        try {
            List<Piece> pieces = new ArrayList<>(docs.mapPartitionsWithIndex((partition, it) -> {
                Configuration c = confB.value().value();
                TaskContext task = TaskContext.get();
                int[] count = {0};
                try (Tokenizer tok = Tokenizers.fromBytes(tokB.value())) {
                    return Pieces.each(it, (key, piece) -> {
                        long[] docsAndSkipped = new long[2];
                        String name = String.format("part-%05d-%04d-attempt-%d.bin", partition, count[0]++,
                                task.taskAttemptId());
                        PendingShard shard = ShardSetWriter.writeShard(workDir, name, c, dtype, vocabSize, out -> {
                            while (piece.hasNext()) {
                                task.killTaskIfInterrupted();
                                Doc d = piece.next();
                                if (d.text() == null) {
                                    docsAndSkipped[1]++;
                                } else {
                                    docsAndSkipped[0]++;
                                    out.write(Documents.encode(tok, d, records));
                                }
                            }
                        });
                        if (hook != null) {
                            try {
                                hook.afterShard(partition, shard);
                            } catch (Exception e) {
                                throw new IllegalStateException(e.getMessage(), e);
                            }
                        }
                        return new Piece(key, shard, docsAndSkipped[0], docsAndSkipped[1]);
                    }).iterator();
                }
            }, false).collect());
            pieces.sort(Comparator.comparing(Piece::key));
            return pieces;
        } catch (RuntimeException e) {
            // The caller deletes the work directory next: first let the failed job's other tasks end, or a
            // straggler could write into it afterwards.
            awaitTasks(sc, group);
            throw e;
        } finally {
            caller.forEach(sc::setLocalProperty);
            confB.destroy();
            tokB.destroy();
        }
    }

    /** Local properties that {@code setJobGroup} sets, restored afterwards. */
    private static final List<String> JOB_PROPERTIES =
            List.of("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel");
    private static final long STRAGGLER_WAIT_MS = 60_000;

    /** Waits (bounded) until the jobs of {@code group} have ended and none of their tasks is running. */
    private static void awaitTasks(JavaSparkContext sc, String group) {
        long deadline = System.currentTimeMillis() + STRAGGLER_WAIT_MS;
        JavaSparkStatusTracker status = sc.statusTracker();
        try {
            for (int job : status.getJobIdsForGroup(group)) {
                while (System.currentTimeMillis() < deadline && running(status, job)) {
                    Thread.sleep(20);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static boolean running(JavaSparkStatusTracker status, int job) {
        SparkJobInfo info = status.getJobInfo(job);
        if (info == null || info.status() == JobExecutionStatus.RUNNING) {
            return true; // the status store has not processed the job's end yet
        }
        for (int stage : info.stageIds()) {
            SparkStageInfo s = status.getStageInfo(stage);
            if (s != null && s.numActiveTasks() > 0) {
                return true;
            }
        }
        return false;
    }
}
