/**
 * Prepared token data sets: a text corpus tokenized once (by Spark: {@code io.megalith.launcher.data.DataPreparation})
 * into shards that every rank reads by position.
 *
 * <h2>On-disk format (version 1)</h2>
 *
 * <p>A directory, on any Hadoop file system ({@code file://}, {@code hdfs://}), holding:
 *
 * <ul>
 *   <li>{@code tokens-00000.bin}, {@code tokens-00001.bin}, ...: token ids, nothing else (no header), in
 *       <b>little-endian</b> order, as <b>uint16</b> when the vocabulary has at most 65,536 tokens (every id fits
 *       in 16 bits unsigned; GPT-2's 50,257 does) and as <b>int32</b> otherwise; the choice is recorded as
 *       {@code dtype}. The token stream is the concatenation of the shards in index order (= file name order).
 *       Empty shards are not written. A file holds {@code tokens x (2 or 4)} bytes.</li>
 *   <li>{@code tokenizer.json}: a copy of the tokenizer file the ids belong to, as {@code Tokenizer.save} writes it
 *       ({@code {"type":"megalith-char",...}} or a Hugging Face BPE {@code tokenizer.json}).</li>
 *   <li>{@code index.json}, for example:
 *       <pre>{@code
 * {
 *   "format" : "megalith-token-shards",
 *   "format_version" : 1,
 *   "created_at" : "2025-01-01T12:00:00Z",
 *   "dtype" : "uint16",                        // or "int32"
 *   "byte_order" : "little-endian",
 *   "vocab_size" : 65,
 *   "total_tokens" : 1115394,                  // = sum of the shards' tokens
 *   "tokenizer" : { "kind" : "char", "file" : "tokenizer.json", "bytes" : 112, "sha256" : "<64 hex>" },
 *   "shards" : [ { "file" : "tokens-00000.bin", "tokens" : 557697, "bytes" : 1115394, "crc32c" : "<8 hex>" }, ... ],
 *   "fingerprint" : "<64 hex>",                // SHA-256 of "input" as canonical JSON
 *   "input" : { ... }                          // what was prepared: files with sizes and modification times, and
 * }                                            // the data.* settings that change the tokens (see DataPreparation)
 * }</pre></li>
 * </ul>
 *
 * <h2>Atomicity</h2>
 *
 * <p>{@link io.megalith.core.data.shards.ShardSetWriter} writes into a hidden sibling {@code .<name>.tmp-<random>},
 * writes {@code index.json} last and renames the directory into place: a directory with a valid index is complete,
 * and a preparation that died midway leaves only a hidden temporary, never a partial data set at the destination.
 * {@link io.megalith.core.data.shards.TokenShards#open} verifies every file's size and checksum (CRC32C for shards,
 * SHA-256 for the tokenizer).
 *
 * <h2>Reading</h2>
 *
 * <p>{@link io.megalith.core.data.shards.ShardedTextData#open} gives {@code TrainingData} whose samples are exactly
 * those of {@link io.megalith.core.data.TextData} over the same token stream: the first {@code 1 - val_fraction} of
 * the tokens are the training split, and sample {@code i} of step {@code s} is a window at an offset drawn from
 * (seed, s, i).
 *
 * <p>{@link io.megalith.core.data.shards.ShardReading} ({@code data.streaming}) chooses whether
 * {@link io.megalith.core.data.shards.TokenShards} holds the shards in memory or streams them: windows read by
 * position through a bounded block cache, checksums still verified at open by a constant-memory pass.
 */
package io.megalith.core.data.shards;
