package io.megalith.core.data.shards;

import java.util.List;

/**
 * How a rank reads a prepared data set ({@code data.streaming}, {@code data.stream_cache_blocks},
 * {@code data.stream_block_kib}).
 *
 * @param streaming "false": every shard in memory (fastest sampling; memory grows with the data set); "true": keep
 *     only the index and read windows by position through a block cache (memory is bounded by the cache);
 *     "auto": stream when the shards hold more than {@link #AUTO_STREAM_BYTES}
 * @param cacheBlocks blocks the streaming cache holds at most
 * @param blockBytes bytes per cache block (a multiple of 4, so a token never straddles two blocks)
 */
public record ShardReading(String streaming, int cacheBlocks, int blockBytes) {
    public static final List<String> MODES = List.of("auto", "true", "false");
    /** Above this, auto streams: an in-memory set of this size already costs as much as a small model's state. */
    public static final long AUTO_STREAM_BYTES = 256L << 20;
    /**
     * 64 KiB: a sampled window (T+1 tokens) is far smaller than a block, so a miss reads a whole block for it; with
     * a cache smaller than the data, 64 KiB blocks sampled 11x (local) and 3x (HDFS) faster than 1 MiB blocks
     * (docs/BENCHMARKS.md), and HDFS's per-read cost makes much smaller blocks no better.
     */
    public static final int DEFAULT_BLOCK_BYTES = 64 << 10;
    /** 1024 blocks of 64 KiB: 64 MiB of cache. */
    public static final int DEFAULT_CACHE_BLOCKS = 1024;
    /** Everything in memory: what {@link TokenShards#open(String, org.apache.hadoop.conf.Configuration)} does. */
    public static final ShardReading IN_MEMORY = new ShardReading("false", DEFAULT_CACHE_BLOCKS, DEFAULT_BLOCK_BYTES);

    public ShardReading {
        if (!MODES.contains(streaming)) {
            throw new IllegalArgumentException("streaming must be one of " + MODES + " (got '" + streaming + "')");
        }
        if (cacheBlocks < 1 || blockBytes < 4 || blockBytes % 4 != 0) {
            throw new IllegalArgumentException("cache of " + cacheBlocks + " blocks of " + blockBytes + " bytes");
        }
    }

    public ShardReading(String streaming, int cacheBlocks) {
        this(streaming, cacheBlocks, DEFAULT_BLOCK_BYTES);
    }

    /** Whether a set of {@code totalBytes} is streamed. */
    public boolean streams(long totalBytes) {
        return "true".equals(streaming) || ("auto".equals(streaming) && totalBytes > AUTO_STREAM_BYTES);
    }
}
