package io.megalith.core.data.shards;

import com.fasterxml.jackson.databind.JsonNode;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.fs.RunDirFs;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a prepared data set so that it appears whole or not at all: everything goes into a hidden temporary
 * sibling of the destination ({@code .<name>.tmp-<random>}), shards are written under its work directory by
 * anyone (Spark tasks, through {@link #writeShard}), {@link #commit} names them in stream order, writes the
 * tokenizer and then {@code index.json}, and one directory rename publishes it. A crash at any point leaves at
 * most a hidden temporary, which the next successful commit to the same destination deletes.
 *
 * <p>One writer per destination at a time (as for checkpoints). Same code for {@code file://} and
 * {@code hdfs://}. {@link #close()} without a commit deletes the temporary.
 */
public final class ShardSetWriter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ShardSetWriter.class);
    private static final String WORK_DIR = "_work";

    private final FileSystem fs;
    private final Path destination;
    private final Path tmp;
    private boolean committed;

    private ShardSetWriter(FileSystem fs, Path destination, Path tmp) {
        this.fs = fs;
        this.destination = destination;
        this.tmp = tmp;
    }

    /** Starts a data set to be published at {@code destination} (a URI or a local path). */
    public static ShardSetWriter begin(String destination, Configuration conf) throws IOException {
        RunDirFs dest = RunDirFs.of(destination, conf);
        Path dir = canonical(dest.dir());
        Path tmp = new Path(dir.getParent(), "." + dir.getName() + ".tmp-" + randomSuffix());
        if (!dest.fs().mkdirs(new Path(tmp, WORK_DIR))) {
            throw new IOException("cannot create " + tmp);
        }
        return new ShardSetWriter(dest.fs(), dir, tmp);
    }

    /** Where shards are written before the commit (a URI); everything in it not committed is deleted. */
    public String workDir() {
        return new Path(tmp, WORK_DIR).toString();
    }

    /** The final directory (a URI). */
    public String destination() {
        return destination.toString();
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
        RunDirFs dir = RunDirFs.of(workDir, conf);
        FileSystem fs = dir.fs();
        Path file = dir.file(name);
        // A straggling task of an aborted preparation must fail, not re-create the deleted temporary: HDFS honours
        // createNonRecursive, the local FS creates parents anyway, hence the check (a window remains locally).
        if (!fs.exists(dir.dir())) {
            throw new FileNotFoundException("work directory " + dir.dir() + " is gone (preparation aborted)");
        }
        try (FSDataOutputStream out = fs.createNonRecursive(file, false, conf.getInt("io.file.buffer.size", 4096),
                fs.getDefaultReplication(file), fs.getDefaultBlockSize(file), null)) {
            ShardWriter w = new ShardWriter(out, dtype, vocabSize);
            body.writeTo(w);
            w.flush();
            hsync(out);
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
            FileStatus st = fs.getFileStatus(src);
            if (st.getLen() != p.bytes()) { // a lost write would otherwise surface only when a rank opens the set
                throw new IOException(src + " has " + st.getLen() + " bytes, its writer reported " + p.bytes());
            }
            if (p.tokens() == 0) {
                continue;
            }
            String name = ShardIndex.shardFileName(entries.size());
            rename(src, new Path(tmp, name));
            entries.add(new ShardIndex.Shard(name, p.tokens(), p.bytes(), p.crc32c()));
            total += p.tokens();
        }
        fs.delete(new Path(tmp, WORK_DIR), true); // empty shards and the files of attempts that lost
        write(new Path(tmp, ShardIndex.TOKENIZER_FILE), tokenizerFile);
        ShardIndex index = new ShardIndex(ShardIndex.FORMAT, ShardIndex.FORMAT_VERSION, Instant.now().toString(),
                dtype.id(), ShardIndex.BYTE_ORDER, vocabSize, total,
                new ShardIndex.TokenizerFile(tokenizerKind, ShardIndex.TOKENIZER_FILE, tokenizerFile.length,
                        sha256(tokenizerFile)),
                entries, fingerprint, input);
        write(new Path(tmp, ShardIndex.FILE_NAME), index.toJson()); // last: from now on the directory is complete
        publish();
        committed = true;
        deleteLeftovers();
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
        if (!committed) {
            try {
                fs.delete(tmp, true);
            } catch (IOException e) {
                LOG.warn("Could not delete {}: {}", tmp, e.toString());
            }
        }
    }

    /**
     * The path without a trailing slash: a local path of an existing directory comes back from {@code RunDirFs} as
     * {@code file:/a/b/}, whose {@code getName()} is empty and whose parent is itself.
     */
    static Path canonical(Path dir) {
        URI u = dir.toUri();
        return new Path(u.getScheme(), u.getAuthority(), u.getPath());
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * No file system here replaces a non-empty directory atomically, so an existing data set is moved aside
     * first and deleted once the new one is in place (readers in between see no data set, never a mix).
     */
    private void publish() throws IOException {
        Path aside = null;
        if (fs.exists(destination)) {
            aside = new Path(destination.getParent(), "." + destination.getName() + ".replaced-" + randomSuffix());
            rename(destination, aside);
        }
        rename(tmp, destination);
        if (aside != null) {
            fs.delete(aside, true);
        }
    }

    /** Temporaries of crashed writers of this destination (single writer: none can be live). */
    private void deleteLeftovers() {
        String prefix = "." + destination.getName() + ".";
        try {
            for (FileStatus st : fs.listStatus(destination.getParent())) {
                String name = st.getPath().getName();
                if (name.startsWith(prefix + "tmp-") || name.startsWith(prefix + "replaced-")) {
                    LOG.info("Deleting leftover {}", st.getPath());
                    fs.delete(st.getPath(), true);
                }
            }
        } catch (IOException e) {
            LOG.warn("Could not clean up beside {}: {}", destination, e.toString());
        }
    }

    /**
     * Hadoop's rename onto an existing directory moves the source inside it (on HDFS and locally), hence the
     * check; with one writer nothing creates {@code dst} in between.
     */
    private void rename(Path src, Path dst) throws IOException {
        if (fs.exists(dst)) {
            throw new FileAlreadyExistsException("cannot rename " + src + ": " + dst + " exists");
        }
        if (!fs.rename(src, dst)) {
            throw new IOException("rename " + src + " -> " + dst + " failed");
        }
    }

    private void write(Path file, byte[] content) throws IOException {
        try (FSDataOutputStream out = fs.create(file, false)) {
            out.write(content);
            hsync(out);
        }
    }

    /** Durable before the rename publishes it; otherwise a crash could expose empty files. */
    private static void hsync(FSDataOutputStream out) throws IOException {
        out.flush();
        if (out.hasCapability(StreamCapabilities.HSYNC)) {
            out.hsync();
        }
    }

    private static String randomSuffix() {
        return String.format("%016x", ThreadLocalRandom.current().nextLong());
    }
}
