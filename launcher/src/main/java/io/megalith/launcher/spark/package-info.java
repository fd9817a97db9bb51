/**
 * Ranks as the tasks of one Spark barrier stage. {@link io.megalith.launcher.spark.BarrierJob} runs N copies of a
 * {@link io.megalith.launcher.spark.RankTask} at once (rank = partition id), each with a
 * {@link io.megalith.launcher.spark.RankContext}: its rank, the {@link io.megalith.launcher.spark.SparkRendezvous}
 * through which ranks learn each other's addresses, and the job's {@link io.megalith.launcher.spark.JobSecret}.
 * {@link io.megalith.launcher.spark.LocalSpark} is the embedded {@code local[N]} Spark used when Megalith is not
 * spark-submitted.
 */
package io.megalith.launcher.spark;
