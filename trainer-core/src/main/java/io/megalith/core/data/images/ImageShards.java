package io.megalith.core.data.images;

import io.megalith.core.data.shards.InvalidShardSetException;
import io.megalith.core.fs.RunDirFs;
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
import org.apache.hadoop.fs.Path;

/** Opens a prepared image data set (see the package documentation), verifying every file before it is used. */
public final class ImageShards {
    private static final int MAX_INDEX_BYTES = 64 << 20;

    private ImageShards() {}

    /** A verified data set in memory. */
    public record Prepared(ImageIndex index, ImageSet train, ImageSet heldOut) {}

    /**
     * Reads and verifies (sizes, CRC32C, labels) the data set in {@code dir} into memory.
     *
     * @throws InvalidShardSetException if it is incomplete or corrupt (the message names the file)
     */
    public static Prepared open(String dir, Configuration conf) throws IOException {
        RunDirFs d = RunDirFs.of(dir, conf);
        ImageIndex ix = readIndex(d);
        return new Prepared(ix, read(d, ix, ix.train()), read(d, ix, ix.heldOut()));
    }

    /**
     * A cheap check that {@code dir} holds a complete data set: the index validates and every shard has the size it
     * lists (checksums are left to {@link #open}).
     *
     * @throws InvalidShardSetException if not
     */
    public static ImageIndex inspect(String dir, Configuration conf) throws IOException {
        RunDirFs d = RunDirFs.of(dir, conf);
        ImageIndex ix = readIndex(d);
        for (ImageIndex.Split s : List.of(ix.train(), ix.heldOut())) {
            for (ImageIndex.Shard sh : s.shards()) {
                size(d, sh);
            }
        }
        return ix;
    }

    private static ImageIndex readIndex(RunDirFs d) throws IOException {
        Path file = d.file(ImageIndex.FILE_NAME);
        FileStatus st;
        try {
            st = d.fs().getFileStatus(file);
        } catch (FileNotFoundException e) {
            throw new InvalidShardSetException(d.dir().toString(), "no " + ImageIndex.FILE_NAME
                    + " (not prepared, or the preparation did not finish)");
        }
        if (st.getLen() > MAX_INDEX_BYTES) {
            throw new InvalidShardSetException(d.dir().toString(), ImageIndex.FILE_NAME + " is " + st.getLen()
                    + " bytes");
        }
        byte[] json = new byte[(int) st.getLen()];
        try (FSDataInputStream in = d.fs().open(file)) {
            in.readFully(0, json);
        }
        try {
            return ImageIndex.parse(json);
        } catch (IOException e) {
            throw new InvalidShardSetException(d.dir().toString(), e.getMessage(), e);
        }
    }

    private static void size(RunDirFs d, ImageIndex.Shard sh) throws IOException {
        long len;
        try {
            len = d.fs().getFileStatus(d.file(sh.file())).getLen();
        } catch (FileNotFoundException e) {
            throw new InvalidShardSetException(d.dir().toString(), sh.file() + " is missing");
        }
        if (len != sh.bytes()) {
            throw new InvalidShardSetException(d.dir().toString(), sh.file() + " has " + len + " bytes, the index "
                    + "says " + sh.bytes() + " (truncated or replaced)");
        }
    }

    private static ImageSet read(RunDirFs d, ImageIndex ix, ImageIndex.Split split) throws IOException {
        int n = ix.channels() * ix.height() * ix.width();
        int images = Math.toIntExact(split.images());
        byte[] pixels = new byte[Math.multiplyExact(images, n)];
        int[] labels = new int[images];
        byte[] record = new byte[ix.recordBytes()];
        ByteBuffer label = ByteBuffer.wrap(record).order(ByteOrder.LITTLE_ENDIAN);
        int at = 0;
        for (ImageIndex.Shard sh : split.shards()) {
            size(d, sh);
            CRC32C crc = new CRC32C();
            try (FSDataInputStream in = d.fs().open(d.file(sh.file()), 1 << 16)) {
                for (long i = 0; i < sh.images(); i++, at++) {
                    in.readFully(record);
                    crc.update(record);
                    labels[at] = label.getChar(0);
                    System.arraycopy(record, ImageIndex.LABEL_BYTES, pixels, at * n, n);
                }
            } catch (EOFException e) {
                throw new InvalidShardSetException(d.dir().toString(), sh.file() + " ended early", e);
            }
            String got = String.format("%08x", crc.getValue());
            if (!got.equals(sh.crc32c())) {
                throw new InvalidShardSetException(d.dir().toString(), sh.file() + " is corrupt: CRC32C " + got
                        + ", the index says " + sh.crc32c());
            }
        }
        for (int i = 0; i < images; i++) {
            if (labels[i] >= ix.classNames().size()) {
                throw new InvalidShardSetException(d.dir().toString(), "label " + labels[i] + " of "
                        + ix.classNames().size() + " classes");
            }
        }
        return new ImageSet(pixels, labels, ix.channels(), ix.height(), ix.width());
    }
}
