package io.megalith.core.fs;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Paths;
import java.util.UUID;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

/** A run directory on some Hadoop file system, and the few file operations a run needs. */
public record RunDirFs(FileSystem fs, Path dir) {
    /** A scheme of two or more letters followed by ':'; one letter would be a Windows drive ("C:\runs"). */
    private static final Pattern HAS_SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]+:.*");

    /**
     * Resolves {@code runDir}: a URI (hdfs://..., file:///...) or a plain local path. A plain path is
     * turned into a file: URI on purpose, because Hadoop would otherwise resolve it against
     * fs.defaultFS, which may well be HDFS.
     */
    public static RunDirFs of(String runDir, Configuration conf) throws IOException {
        Path dir = HAS_SCHEME.matcher(runDir).matches()
                ? new Path(runDir)
                : new Path(Paths.get(runDir).toAbsolutePath().toUri());
        FileSystem fs = dir.getFileSystem(conf);
        // The local FS is a checksum wrapper that leaves a .crc file beside every file it writes;
        // the raw FS underneath writes only the file itself. The instance is cached and shared: never closed here.
        if (fs instanceof ChecksumFileSystem checksummed) {
            fs = checksummed.getRawFileSystem();
        }
        return new RunDirFs(fs, fs.makeQualified(dir));
    }

    /** Reads a whole file given as a URI or a plain local path (e.g. a training text). */
    public static byte[] readFully(String uriOrPath, Configuration conf) throws IOException {
        Path path = HAS_SCHEME.matcher(uriOrPath).matches()
                ? new Path(uriOrPath)
                : new Path(Paths.get(uriOrPath).toAbsolutePath().toUri());
        FileSystem fs = path.getFileSystem(conf);
        try (FSDataInputStream in = fs.open(path)) {
            return in.readAllBytes();
        } catch (FileNotFoundException e) {
            throw new FileNotFoundException("no such file: " + path);
        }
    }

    public Path file(String name) {
        return new Path(dir, name);
    }

    /** Moves {@code tmp} over {@code dst} so that readers see either the old or the new file, never a mix. */
    public void replace(Path tmp, Path dst) throws IOException {
        if (fs instanceof RawLocalFileSystem) {
            // Its rename is File.renameTo, i.e. rename(2), which replaces dst atomically on POSIX. Its
            // rename-with-OVERWRITE is the generic delete-then-rename, which is not atomic.
            if (!fs.rename(tmp, dst)) {
                throw new IOException("could not rename " + tmp + " to " + dst);
            }
        } else {
            // HDFS implements rename with OVERWRITE as one atomic namenode operation.
            FileUtil.rename(fs, tmp, dst, Options.Rename.OVERWRITE);
        }
    }

    /** Writes a whole small file atomically (temporary file, then rename). */
    public void writeAtomically(String name, byte[] content) throws IOException {
        fs.mkdirs(dir);
        Path tmp = file("." + name + ".tmp-" + UUID.randomUUID());
        try (FSDataOutputStream out = fs.create(tmp, true)) {
            out.write(content);
        }
        replace(tmp, file(name));
    }

    /** Reads a whole small file. */
    public byte[] read(String name) throws IOException {
        try (FSDataInputStream in = fs.open(file(name))) {
            return in.readAllBytes();
        }
    }

    public boolean exists(String name) throws IOException {
        return fs.exists(file(name));
    }
}
