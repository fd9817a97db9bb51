/**
 * How ranks are started and fed: the {@code megalith} command ({@link io.megalith.launcher.cli.Megalith}), ranks as
 * the tasks of a Spark barrier stage ({@link io.megalith.launcher.spark}), and next data sharded by Spark.
 */
package io.megalith.launcher;
