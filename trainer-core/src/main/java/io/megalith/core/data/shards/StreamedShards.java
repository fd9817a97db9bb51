package io.megalith.core.data.shards;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The shards of a data set read by position ({@code readFully(position, ...)}) through a {@link BlockCache}: memory
 * is the cache, whatever the data set's size. One stream per shard, opened on first use and shared by all threads
 * (positional reads do not move a stream's position, and HDFS and local streams allow them concurrently).
 */
final class StreamedShards implements Closeable {
    private static final VarHandle U16 = MethodHandles.byteArrayViewVarHandle(char[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    private final FileSystem fs;
    private final Path[] files;
    private final long[] bytes;
    private final int tokenBytes;
    private final int blockBytes;
    private final FSDataInputStream[] streams;
    private final BlockCache cache;

    StreamedShards(FileSystem fs, Path[] files, long[] bytes, TokenDtype dtype, ShardReading reading) {
        this.fs = fs;
        this.files = files;
        this.bytes = bytes;
        this.tokenBytes = dtype.bytes();
        this.blockBytes = reading.blockBytes();
        this.streams = new FSDataInputStream[files.length];
        this.cache = new BlockCache(reading.cacheBlocks());
    }

    /** Copies tokens [from, from + n) of shard {@code shard} (all inside it) into dst[off, off + n). */
    void read(int shard, long from, int[] dst, int off, int n) {
        try {
            long pos = from * tokenBytes;
            int done = 0;
            while (done < n) {
                long block = pos / blockBytes;
                byte[] b = cache.get(shard, block, this::load);
                int at = (int) (pos - block * blockBytes);
                int k = Math.min(n - done, (b.length - at) / tokenBytes);
                if (tokenBytes == 2) {
                    for (int i = 0; i < k; i++) {
                        dst[off + done + i] = (char) U16.get(b, at + 2 * i);
                    }
                } else {
                    for (int i = 0; i < k; i++) {
                        dst[off + done + i] = (int) I32.get(b, at + 4 * i);
                    }
                }
                done += k;
                pos += (long) k * tokenBytes;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + files[shard], e);
        }
    }

    BlockCache cache() {
        return cache;
    }

    private byte[] load(int shard, long block) throws IOException {
        long pos = block * blockBytes;
        byte[] b = new byte[(int) Math.min(blockBytes, bytes[shard] - pos)];
        stream(shard).readFully(pos, b, 0, b.length);
        return b;
    }

    private FSDataInputStream stream(int shard) throws IOException {
        synchronized (streams) {
            if (streams[shard] == null) {
                streams[shard] = fs.open(files[shard]);
            }
            return streams[shard];
        }
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        synchronized (streams) {
            for (int i = 0; i < streams.length; i++) {
                if (streams[i] != null) {
                    try {
                        streams[i].close();
                    } catch (IOException e) {
                        first = first == null ? e : first;
                    }
                    streams[i] = null;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
