package io.megalith.core.data.shards;

import com.fasterxml.jackson.databind.JsonNode;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.fs.RunDirFs;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.Path;

/**
 * Writes a prepared data set so that it appears whole or not at all ({@link StagedDirectory}): shards are written
 * under its work directory by anyone (Spark tasks, through {@link #writeShard}), {@link #commit} names them in
 * stream order, writes the tokenizer and then {@code index.json}, and one directory rename publishes it.
 *
 * <p>One writer per destination at a time (as for checkpoints). Same code for {@code file://} and
 * {@code hdfs://}. {@link #close()} without a commit deletes the temporary.
 */
public final class ShardSetWriter implements AutoCloseable {
    private final StagedDirectory dir;

    private ShardSetWriter(StagedDirectory dir) {
        this.dir = dir;
    }

    /** Starts a data set to be published at {@code destination} (a URI or a local path). */
    public static ShardSetWriter begin(String destination, Configuration conf) throws IOException {
        return new ShardSetWriter(StagedDirectory.begin(destination, conf));
    }

    /** Where shards are written before the commit (a URI); everything in it not committed is deleted. */
    public String workDir() {
        return dir.workDir();
    }

    /** The final directory (a URI). */
    public String destination() {
        return dir.destination();
    }

    /** How a shard's tokens are produced. */
    public interface Body {
        void writeTo(ShardWriter out) throws IOException;
    }

    /**
     * Writes one shard file {@code name} into {@code workDir} (of some writer, possibly in another process) and
     * makes it durable. Each attempt of a task must use its own name: retried or speculative attempts then never
     * share a file, and the driver commits the one whose result it received.
     *
     * @throws FileNotFoundException if the work directory is gone (the preparation was aborted)
     */
    public static PendingShard writeShard(String workDir, String name, Configuration conf, TokenDtype dtype,
            int vocabSize, Body body) throws IOException {
        RunDirFs work = RunDirFs.of(workDir, conf);
        Path file = work.file(name);
        try (FSDataOutputStream out = StagedDirectory.createShard(work, file,
                conf.getInt("io.file.buffer.size", 4096))) {
            ShardWriter w = new ShardWriter(out, dtype, vocabSize);
            body.writeTo(w);
            w.flush();
            StagedDirectory.hsync(out);
            return new PendingShard(file.toString(), w.tokens(), w.bytes(), w.crc32c());
        }
    }

    /**
     * Commits {@code shards} in stream order (empty ones are dropped), the tokenizer and the index, and publishes
     * the directory, replacing an existing data set there only once the new one is complete.
     *
     * @throws FileAlreadyExistsException if another writer published at the destination meanwhile
     */
    public ShardIndex commit(List<PendingShard> shards, byte[] tokenizerFile, String tokenizerKind, int vocabSize,
            TokenDtype dtype, String fingerprint, JsonNode input) throws IOException {
        List<ShardIndex.Shard> entries = new ArrayList<>();
        long total = 0;
        for (PendingShard p : shards) {
            Path src = new Path(p.path());
            dir.checkLength(src, p.bytes());
            if (p.tokens() == 0) {
                continue;
            }
            String name = ShardIndex.shardFileName(entries.size());
            dir.moveIn(src, name);
            entries.add(new ShardIndex.Shard(name, p.tokens(), p.bytes(), p.crc32c()));
            total += p.tokens();
        }
        dir.deleteWork();
        dir.write(ShardIndex.TOKENIZER_FILE, tokenizerFile);
        ShardIndex index = new ShardIndex(ShardIndex.FORMAT, ShardIndex.FORMAT_VERSION, Instant.now().toString(),
                dtype.id(), ShardIndex.BYTE_ORDER, vocabSize, total,
                new ShardIndex.TokenizerFile(tokenizerKind, ShardIndex.TOKENIZER_FILE, tokenizerFile.length,
                        sha256(tokenizerFile)),
                entries, fingerprint, input);
        dir.write(ShardIndex.FILE_NAME, index.toJson()); // last: from now on the directory is complete
        dir.publish();
        return index;
    }

    /** Writes a whole data set from shards in memory (tests, small inputs); returns the destination's URI. */
    public static String write(String destination, Configuration conf, Tokenizer tokenizer, List<int[]> shards,
            String fingerprint, JsonNode input) throws IOException {
        TokenDtype dtype = TokenDtype.forVocab(tokenizer.vocabSize());
        try (ShardSetWriter w = begin(destination, conf)) {
            List<PendingShard> pending = new ArrayList<>();
            for (int i = 0; i < shards.size(); i++) {
                int[] ids = shards.get(i);
                pending.add(writeShard(w.workDir(), "shard-" + i, conf, dtype, tokenizer.vocabSize(), out -> out.write(ids)));
            }
            w.commit(pending, Tokenizers.toBytes(tokenizer), tokenizer.kind(), tokenizer.vocabSize(), dtype,
                    fingerprint, input);
            return w.destination();
        }
    }

    /** Deletes the temporary unless committed. */
    @Override
    public void close() {
        dir.close();
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
