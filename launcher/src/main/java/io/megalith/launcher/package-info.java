/**
 * How ranks are started and fed: the {@code megalith} command ({@link io.megalith.launcher.cli.Megalith}),
 * and next the Spark barrier-mode job, data sharded by Spark, and spark-submit.
 */
package io.megalith.launcher;
