package io.megalith.core.data.shards;

import java.io.Serializable;

/**
 * A shard file written (e.g. by a Spark task) into the work directory of a {@link ShardSetWriter}, not yet part
 * of a data set. Serializable: tasks send it to the driver, which commits the shards in stream order.
 *
 * @param path the file's full URI
 */
public record PendingShard(String path, long tokens, long bytes, String crc32c) implements Serializable {}
