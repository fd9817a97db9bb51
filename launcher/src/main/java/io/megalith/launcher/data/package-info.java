/**
 * Data preparation with Spark: {@link io.megalith.launcher.data.DataPreparation} turns {@code data.path} (text,
 * JSON Lines or Parquet; a file, a directory or a glob; on {@code file://} or {@code hdfs://}) into a sharded token
 * data set once, in parallel on the executors, and reuses it while the input is unchanged.
 *
 * <p>The flow, for N Spark partitions:
 *
 * <pre>
 * driver: list and sort the input files (InputSpec) -> fingerprint -> valid data set there already? done
 * pass 1 (char)  executors: distinct code points per partition      -> driver: sorted alphabet
 * pass 1+2 (bpe) executors: characters per piece; then the sample  -> driver: BpeTokenizer.train
 * last pass      executors: tokenize each piece into its own shard  -> driver: commit in stream order, index.json
 * </pre>
 *
 * <p>Stream order is the files' path order, then position within a file, whatever order Spark lists files or packs
 * them into partitions in: every document carries its (file, position) ({@link io.megalith.launcher.data.Doc}),
 * partitions are cut into contiguous pieces ({@link io.megalith.launcher.data.Pieces}), and the driver sorts the
 * pieces. How documents become tokens: {@link io.megalith.launcher.data.Documents}. The on-disk format and its
 * atomic publication: package {@code io.megalith.core.data.shards}.
 */
package io.megalith.launcher.data;
