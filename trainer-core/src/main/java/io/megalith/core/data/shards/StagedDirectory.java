package io.megalith.core.data.shards;

import io.megalith.core.fs.RunDirFs;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
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
 * A prepared data set's directory (token shards: {@link ShardSetWriter}, images: {@code data.images.ImageShardWriter})
 * that appears whole or not at all: everything goes into a hidden temporary sibling of the destination
 * ({@code .<name>.tmp-<random>}), shards under its work directory by anyone (Spark tasks, through
 * {@link #createShard}); the writer moves them in, writes its index last, and one directory rename publishes it. A
 * crash at any point leaves at most a hidden temporary, which the next successful publish to the same destination
 * deletes.
 *
 * <p>One writer per destination at a time (as for checkpoints). Same code for {@code file://} and {@code hdfs://}.
 * {@link #close()} without a publish deletes the temporary.
 */
public final class StagedDirectory implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StagedDirectory.class);
    private static final String WORK_DIR = "_work";

    private final FileSystem fs;
    private final Path destination;
    private final Path tmp;
    private boolean committed;

    private StagedDirectory(FileSystem fs, Path destination, Path tmp) {
        this.fs = fs;
        this.destination = destination;
        this.tmp = tmp;
    }

    /** Starts a directory to be published at {@code destination} (a URI or a local path). */
    public static StagedDirectory begin(String destination, Configuration conf) throws IOException {
        RunDirFs dest = RunDirFs.of(destination, conf);
        Path dir = canonical(dest.dir());
        Path tmp = new Path(dir.getParent(), "." + dir.getName() + ".tmp-" + randomSuffix());
        if (!dest.fs().mkdirs(new Path(tmp, WORK_DIR))) {
            throw new IOException("cannot create " + tmp);
        }
        return new StagedDirectory(dest.fs(), dir, tmp);
    }

    /** Where shards are written before the commit (a URI); everything in it not moved in is deleted. */
    public String workDir() {
        return new Path(tmp, WORK_DIR).toString();
    }

    /** The final directory (a URI). */
    public String destination() {
        return destination.toString();
    }

    /**
     * Creates shard {@code file} of work directory {@code dir} (of some writer, possibly in another process). Each
     * attempt of a task must use its own name: retried or speculative attempts then never share a file, and the
     * driver commits the one whose result it received.
     *
     * @throws FileNotFoundException if the work directory is gone (the preparation was aborted)
     */
    public static FSDataOutputStream createShard(RunDirFs dir, Path file, int bufferSize) throws IOException {
        FileSystem fs = dir.fs();
        // A straggling task of an aborted preparation must fail, not re-create the deleted temporary: HDFS honours
        // createNonRecursive, the local FS creates parents anyway, hence the check (a window remains locally).
        if (!fs.exists(dir.dir())) {
            throw new FileNotFoundException("work directory " + dir.dir() + " is gone (preparation aborted)");
        }
        return fs.createNonRecursive(file, false, bufferSize, fs.getDefaultReplication(file),
                fs.getDefaultBlockSize(file), null);
    }

    /** A lost write would otherwise surface only when a rank opens the set. */
    public void checkLength(Path shard, long bytes) throws IOException {
        FileStatus st = fs.getFileStatus(shard);
        if (st.getLen() != bytes) {
            throw new IOException(shard + " has " + st.getLen() + " bytes, its writer reported " + bytes);
        }
    }

    /** Moves a shard of the work directory into the directory as {@code name}. */
    public void moveIn(Path shard, String name) throws IOException {
        rename(shard, new Path(tmp, name));
    }

    /** Deletes the work directory: empty shards and the files of attempts that lost. */
    public void deleteWork() throws IOException {
        fs.delete(new Path(tmp, WORK_DIR), true);
    }

    /** Writes file {@code name} of the directory durably. */
    public void write(String name, byte[] content) throws IOException {
        try (FSDataOutputStream out = fs.create(new Path(tmp, name), false)) {
            out.write(content);
            hsync(out);
        }
    }

    /**
     * Publishes the directory. No file system here replaces a non-empty directory atomically, so an existing one is
     * moved aside first and deleted once the new one is in place (readers in between see none, never a mix).
     *
     * @throws FileAlreadyExistsException if another writer published at the destination meanwhile
     */
    public void publish() throws IOException {
        Path aside = null;
        if (fs.exists(destination)) {
            aside = new Path(destination.getParent(), "." + destination.getName() + ".replaced-" + randomSuffix());
            rename(destination, aside);
        }
        rename(tmp, destination);
        if (aside != null) {
            fs.delete(aside, true);
        }
        committed = true;
        deleteLeftovers();
    }

    /** Deletes the temporary unless published. */
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
    public static Path canonical(Path dir) {
        URI u = dir.toUri();
        return new Path(u.getScheme(), u.getAuthority(), u.getPath());
    }

    /** Durable before the rename publishes it; otherwise a crash could expose empty files. */
    public static void hsync(FSDataOutputStream out) throws IOException {
        out.flush();
        if (out.hasCapability(StreamCapabilities.HSYNC)) {
            out.hsync();
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
     * Hadoop's rename onto an existing directory moves the source inside it (on HDFS and locally), hence the check;
     * with one writer nothing creates {@code dst} in between.
     */
    private void rename(Path src, Path dst) throws IOException {
        if (fs.exists(dst)) {
            throw new FileAlreadyExistsException("cannot rename " + src + ": " + dst + " exists");
        }
        if (!fs.rename(src, dst)) {
            throw new IOException("rename " + src + " -> " + dst + " failed");
        }
    }

    private static String randomSuffix() {
        return String.format("%016x", ThreadLocalRandom.current().nextLong());
    }
}
