package io.megalith.core.data.shards;

import io.megalith.core.data.TokenSource;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.fs.RunDirFs;
import java.io.Closeable;
import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.zip.CRC32C;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The token stream of a prepared data set, readable at any position across shard boundaries, in one of two modes
 * ({@link ShardReading}, config {@code data.streaming}):
 *
 * <ul>
 *   <li>in memory: every shard is read into an array at open (2 or 4 bytes per token, as stored), verifying each
 *       file's size and CRC32C on the way. Fastest sampling; a rank's memory grows with the data set.</li>
 *   <li>streaming: only the index is kept; windows are read by position ({@code FSDataInputStream.readFully(position,
 *       ...)}, one lazily opened stream per shard) through a bounded LRU cache of fixed-size blocks, so memory is the
 *       cache whatever the data set's size. Sizes and CRC32C are still verified at open, by one sequential pass
 *       over every shard that holds nothing but a 1 MiB buffer: opening costs a full read of the data set (as the
 *       in-memory mode), but not its memory.</li>
 * </ul>
 *
 * <p>Both give the same tokens for every position. Safe to share between threads; {@link #close()} the streams.
 */
public final class TokenShards implements TokenSource, Closeable {
    private static final int CHUNK = 1 << 20; // bytes per read; a multiple of every dtype's size
    private static final int MAX_INDEX_BYTES = 64 << 20;

    private final String dir;
    private final ShardIndex index;
    private final byte[] tokenizerFile;
    /** starts[i] = stream position of shard i's first token; starts[n] = total. */
    private final long[] starts;
    /** In memory, per shard: char[] for uint16 (Java's unsigned 16-bit type), int[] for int32; null when streaming. */
    private final Object[] data;
    /** Streaming: the shards read by position; null in memory. */
    private final StreamedShards streamed;

    private TokenShards(String dir, ShardIndex index, byte[] tokenizerFile, long[] starts, Object[] data,
            StreamedShards streamed) {
        this.dir = dir;
        this.index = index;
        this.tokenizerFile = tokenizerFile;
        this.starts = starts;
        this.data = data;
        this.streamed = streamed;
    }

    /**
     * Opens the data set in {@code dir} (a URI or a local path) into memory, fully verified.
     *
     * @throws InvalidShardSetException if it is incomplete or corrupt
     */
    public static TokenShards open(String dir, Configuration conf) throws IOException {
        return open(dir, conf, ShardReading.IN_MEMORY);
    }

    /**
     * Opens and fully verifies the data set in {@code dir} (a URI or a local path), in memory or streaming as
     * {@code reading} says for its size.
     *
     * @throws InvalidShardSetException if it is incomplete or corrupt (the message names the file)
     */
    public static TokenShards open(String dir, Configuration conf, ShardReading reading) throws IOException {
        RunDirFs d = RunDirFs.of(dir, conf);
        ShardIndex ix = readIndex(d);
        byte[] tokenizer = readTokenizer(d, ix);
        List<ShardIndex.Shard> shards = ix.shards();
        long[] starts = new long[shards.size() + 1];
        long totalBytes = 0;
        for (int i = 0; i < shards.size(); i++) {
            starts[i + 1] = starts[i] + shards.get(i).tokens();
            totalBytes += shards.get(i).bytes();
        }
        String canonical = StagedDirectory.canonical(d.dir()).toString();
        if (reading.streams(totalBytes)) {
            Path[] files = new Path[shards.size()];
            long[] bytes = new long[shards.size()];
            for (int i = 0; i < shards.size(); i++) {
                verifyShard(d, shards.get(i));
                files[i] = d.file(shards.get(i).file());
                bytes[i] = shards.get(i).bytes();
            }
            StreamedShards streamed = new StreamedShards(d.fs(), files, bytes, ix.tokenDtype(), reading);
            return new TokenShards(canonical, ix, tokenizer, starts, null, streamed);
        }
        Object[] data = new Object[shards.size()];
        for (int i = 0; i < shards.size(); i++) {
            data[i] = readShard(d, shards.get(i), ix.tokenDtype());
        }
        return new TokenShards(canonical, ix, tokenizer, starts, data, null);
    }

    /** Whether windows are read from the files (else from memory). */
    public boolean streaming() {
        return streamed != null;
    }

    /** Streaming: blocks cached now (never more than {@link ShardReading#cacheBlocks()}); 0 in memory. */
    public int cachedBlocks() {
        return streamed == null ? 0 : streamed.cache().size();
    }

    /** Streaming: blocks read from the files so far (cache misses); 0 in memory. */
    public long blockReads() {
        return streamed == null ? 0 : streamed.cache().misses();
    }

    /** Closes the shard streams (streaming); nothing to do in memory. */
    @Override
    public void close() throws IOException {
        if (streamed != null) {
            streamed.close();
        }
    }

    /**
     * A cheap check that {@code dir} holds a complete data set: the index validates, every shard has the size it
     * lists, the tokenizer its checksum. Shard checksums are left to {@link #open} (they cost reading everything).
     *
     * @throws InvalidShardSetException if not
     */
    public static ShardIndex inspect(String dir, Configuration conf) throws IOException {
        RunDirFs d = RunDirFs.of(dir, conf);
        ShardIndex ix = readIndex(d);
        readTokenizer(d, ix);
        for (ShardIndex.Shard s : ix.shards()) {
            status(d, s.file(), s.bytes());
        }
        return ix;
    }

    @Override
    public long size() {
        return index.totalTokens();
    }

    @Override
    public int token(long position) {
        if (position < 0 || position >= size()) {
            throw new IndexOutOfBoundsException("token " + position + " of " + size());
        }
        int s = shardOf(position);
        if (streamed != null) {
            int[] one = new int[1];
            streamed.read(s, position - starts[s], one, 0, 1);
            return one[0];
        }
        int i = (int) (position - starts[s]);
        return data[s] instanceof char[] c ? c[i] : ((int[]) data[s])[i];
    }

    @Override
    public void read(long position, int[] dst) {
        if (position < 0 || position + dst.length > size()) {
            throw new IndexOutOfBoundsException("tokens [" + position + ", " + (position + dst.length) + ") of " + size());
        }
        int done = 0;
        int s = dst.length == 0 ? 0 : shardOf(position);
        while (done < dst.length) {
            long offset = position + done - starts[s];
            int n = (int) Math.min(dst.length - done, starts[s + 1] - starts[s] - offset);
            int from = (int) offset; // only used in memory, where a shard fits an array
            if (streamed != null) {
                streamed.read(s, offset, dst, done, n);
            } else if (data[s] instanceof char[] c) {
                for (int k = 0; k < n; k++) {
                    dst[done + k] = c[from + k];
                }
            } else {
                System.arraycopy((int[]) data[s], from, dst, done, n);
            }
            done += n;
            s++;
        }
    }

    public ShardIndex index() {
        return index;
    }

    /** The directory, as a qualified URI. */
    public String dir() {
        return dir;
    }

    /** The tokenizer the data set was prepared with (a new instance: close it). */
    public Tokenizer tokenizer() throws IOException {
        Tokenizer tok = Tokenizers.fromBytes(tokenizerFile);
        if (tok.vocabSize() != index.vocabSize()) {
            tok.close();
            throw new InvalidShardSetException(dir, "tokenizer has " + tok.vocabSize() + " tokens, index says "
                    + index.vocabSize());
        }
        return tok;
    }

    /** The saved tokenizer file, as {@link Tokenizer#save} wrote it. */
    public byte[] tokenizerFile() {
        return tokenizerFile.clone();
    }

    /** The last shard whose start is at or before {@code position}: skips empty shards. */
    private int shardOf(long position) {
        int lo = 0;
        int hi = starts.length - 2;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= position) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    private static ShardIndex readIndex(RunDirFs d) throws IOException {
        byte[] json;
        try (FSDataInputStream in = d.fs().open(d.file(ShardIndex.FILE_NAME))) {
            json = in.readNBytes(MAX_INDEX_BYTES + 1);
        } catch (FileNotFoundException e) {
            throw new InvalidShardSetException(d.dir().toString(), "no " + ShardIndex.FILE_NAME
                    + " (not prepared, or the preparation did not finish)");
        }
        if (json.length > MAX_INDEX_BYTES) {
            throw new InvalidShardSetException(d.dir().toString(), ShardIndex.FILE_NAME + " larger than "
                    + MAX_INDEX_BYTES + " bytes");
        }
        try {
            return ShardIndex.parse(json);
        } catch (IOException e) {
            throw new InvalidShardSetException(d.dir().toString(), e.getMessage(), e);
        }
    }

    private static byte[] readTokenizer(RunDirFs d, ShardIndex ix) throws IOException {
        ShardIndex.TokenizerFile t = ix.tokenizer();
        status(d, t.file(), t.bytes());
        byte[] bytes;
        try (FSDataInputStream in = d.fs().open(d.file(t.file()))) {
            bytes = in.readAllBytes();
        }
        if (!ShardSetWriter.sha256(bytes).equals(t.sha256())) {
            throw new InvalidShardSetException(d.dir().toString(), t.file() + ": SHA-256 mismatch");
        }
        return bytes;
    }

    private static FileStatus status(RunDirFs d, String name, long expectedBytes) throws IOException {
        FileStatus st;
        try {
            st = d.fs().getFileStatus(d.file(name));
        } catch (FileNotFoundException e) {
            throw new InvalidShardSetException(d.dir().toString(), name + " is missing");
        }
        if (st.getLen() != expectedBytes) {
            throw new InvalidShardSetException(d.dir().toString(), name + " has " + st.getLen()
                    + " bytes, the index says " + expectedBytes);
        }
        return st;
    }

    /** Reads one shard into an array, checksumming it on the way. */
    private static Object readShard(RunDirFs d, ShardIndex.Shard s, TokenDtype dtype) throws IOException {
        status(d, s.file(), s.bytes());
        if (s.tokens() > Integer.MAX_VALUE - 8) {
            throw new IOException(d.file(s.file()) + ": " + s.tokens() + " tokens do not fit one array; this reader "
                    + "holds each shard in memory (prepare with more partitions for smaller shards)");
        }
        int n = (int) s.tokens();
        char[] narrow = dtype == TokenDtype.UINT16 ? new char[n] : null;
        int[] wide = dtype == TokenDtype.INT32 ? new int[n] : null;
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[CHUNK];
        FileSystem fs = d.fs();
        try (FSDataInputStream in = fs.open(d.file(s.file()))) {
            long left = s.bytes();
            int at = 0;
            while (left > 0) {
                int len = (int) Math.min(buf.length, left);
                in.readFully(buf, 0, len);
                crc.update(buf, 0, len);
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, len).order(ByteOrder.LITTLE_ENDIAN);
                if (narrow != null) {
                    bb.asCharBuffer().get(narrow, at, len / 2);
                    at += len / 2;
                } else {
                    bb.asIntBuffer().get(wide, at, len / 4);
                    at += len / 4;
                }
                left -= len;
            }
        } catch (EOFException e) {
            throw new InvalidShardSetException(d.dir().toString(), s.file() + " ends early", e);
        }
        checkCrc(d, s, crc);
        return narrow != null ? narrow : wide;
    }

    /**
     * Streaming: checks one shard's size and CRC32C by a sequential pass holding only one buffer. Reads the whole
     * file (the price of an honest check; HDFS's own block checksums would not tell that the file is the one the
     * index describes), and only once: positional reads later trust what was checked here.
     */
    private static void verifyShard(RunDirFs d, ShardIndex.Shard s) throws IOException {
        status(d, s.file(), s.bytes());
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[(int) Math.min(CHUNK, Math.max(1, s.bytes()))];
        try (FSDataInputStream in = d.fs().open(d.file(s.file()))) {
            long left = s.bytes();
            while (left > 0) {
                int len = (int) Math.min(buf.length, left);
                in.readFully(buf, 0, len);
                crc.update(buf, 0, len);
                left -= len;
            }
        } catch (EOFException e) {
            throw new InvalidShardSetException(d.dir().toString(), s.file() + " ends early", e);
        }
        checkCrc(d, s, crc);
    }

    private static void checkCrc(RunDirFs d, ShardIndex.Shard s, CRC32C crc) throws InvalidShardSetException {
        String actual = String.format("%08x", crc.getValue());
        if (!actual.equals(s.crc32c())) {
            throw new InvalidShardSetException(d.dir().toString(), s.file() + ": CRC32C mismatch: file has " + actual
                    + ", the index says " + s.crc32c());
        }
    }
}
