package io.megalith.core.data.images;

import com.fasterxml.jackson.databind.JsonNode;
import io.megalith.core.fs.RunDirFs;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32C;
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
 * Writes a prepared image data set so that it appears whole or not at all, as {@code data.shards.ShardSetWriter}
 * does for tokens: shards go into the work directory of a hidden temporary sibling ({@code .<name>.tmp-<random>}),
 * {@link #commit} names them in split order, writes {@code index.json} last and renames the directory into place.
 * {@link #close()} without a commit deletes the temporary. One writer per destination at a time.
 */
public final class ImageShardWriter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ImageShardWriter.class);
    private static final String WORK_DIR = "_work";

    private final FileSystem fs;
    private final Path destination;
    private final Path tmp;
    private boolean committed;

    private ImageShardWriter(FileSystem fs, Path destination, Path tmp) {
        this.fs = fs;
        this.destination = destination;
        this.tmp = tmp;
    }

    public static ImageShardWriter begin(String destination, Configuration conf) throws IOException {
        RunDirFs dest = RunDirFs.of(destination, conf);
        URI u = dest.dir().toUri();
        Path dir = new Path(u.getScheme(), u.getAuthority(), u.getPath()); // no trailing slash: getName() works
        Path tmp = new Path(dir.getParent(), "." + dir.getName() + ".tmp-" + randomSuffix());
        if (!dest.fs().mkdirs(new Path(tmp, WORK_DIR))) {
            throw new IOException("cannot create " + tmp);
        }
        return new ImageShardWriter(dest.fs(), dir, tmp);
    }

    /** Where shards are written before the commit (a URI). */
    public String workDir() {
        return new Path(tmp, WORK_DIR).toString();
    }

    public String destination() {
        return destination.toString();
    }

    /**
     * Writes {@code images} as shard file {@code name} of {@code workDir} (each task attempt its own name) durably,
     * with their CRC32C and pixel sums.
     *
     * @throws FileNotFoundException if the work directory is gone (the preparation was aborted)
     */
    public static PendingImageShard writeShard(String workDir, String name, Configuration conf, ImageSet images)
            throws IOException {
        RunDirFs dir = RunDirFs.of(workDir, conf);
        Path file = dir.file(name);
        if (!dir.fs().exists(dir.dir())) {
            throw new FileNotFoundException("work directory " + dir.dir() + " is gone (preparation aborted)");
        }
        int n = images.imageBytes();
        ByteBuffer record = ByteBuffer.allocate(ImageIndex.LABEL_BYTES + n).order(ByteOrder.LITTLE_ENDIAN);
        CRC32C crc = new CRC32C();
        try (FSDataOutputStream out = dir.fs().createNonRecursive(file, false, 1 << 16,
                dir.fs().getDefaultReplication(file), dir.fs().getDefaultBlockSize(file), null)) {
            for (int i = 0; i < images.size(); i++) {
                int label = images.labels()[i];
                if (label < 0 || label > 0xffff) {
                    throw new IllegalArgumentException("label " + label + " outside [0, 65535]");
                }
                record.clear();
                record.putChar((char) label).put(images.pixels(), i * n, n);
                crc.update(record.array(), 0, record.capacity());
                out.write(record.array(), 0, record.capacity());
            }
            hsync(out);
        }
        return new PendingImageShard(file.toString(), images.size(), (long) images.size() * record.capacity(),
                String.format("%08x", crc.getValue()), ChannelStats.of(images));
    }

    /**
     * Commits the shards of each split in order (empty ones dropped) with the training split's mean and std and
     * publishes the directory, replacing an existing data set there only once the new one is complete.
     *
     * @throws FileAlreadyExistsException if another writer published at the destination meanwhile
     */
    public ImageIndex commit(List<PendingImageShard> train, List<PendingImageShard> heldOut, int channels, int height,
            int width, List<String> classNames, String fingerprint, JsonNode input) throws IOException {
        ChannelStats stats = new ChannelStats(channels);
        for (PendingImageShard p : train) {
            stats = stats.plus(p.stats());
        }
        ImageIndex.Split trainSplit = name(train, true);
        ImageIndex.Split heldSplit = name(heldOut, false);
        fs.delete(new Path(tmp, WORK_DIR), true); // empty shards and the files of attempts that lost
        ImageIndex index = new ImageIndex(ImageIndex.FORMAT, ImageIndex.FORMAT_VERSION, Instant.now().toString(),
                channels, height, width, ImageIndex.BYTE_ORDER, ImageIndex.recordBytes(channels, height, width),
                classNames, boxed(stats.mean()), boxed(stats.std()), trainSplit, heldSplit, fingerprint, input);
        try (FSDataOutputStream out = fs.create(new Path(tmp, ImageIndex.FILE_NAME), false)) {
            out.write(index.toJson()); // last: from now on the directory is complete
            hsync(out);
        }
        publish();
        committed = true;
        deleteLeftovers();
        return index;
    }

    /** Writes a whole data set from images in memory (in-process preparation, tests); returns its URI. */
    public static String write(String destination, Configuration conf, ImageSet train, ImageSet heldOut,
            List<String> classNames, String fingerprint, JsonNode input) throws IOException {
        try (ImageShardWriter w = begin(destination, conf)) {
            PendingImageShard t = writeShard(w.workDir(), "train", conf, train);
            PendingImageShard h = writeShard(w.workDir(), "held-out", conf, heldOut);
            w.commit(List.of(t), List.of(h), train.channels(), train.height(), train.width(), classNames,
                    fingerprint, input);
            return w.destination();
        }
    }

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

    private ImageIndex.Split name(List<PendingImageShard> pieces, boolean train) throws IOException {
        List<ImageIndex.Shard> shards = new ArrayList<>();
        long images = 0;
        for (PendingImageShard p : pieces) {
            Path src = new Path(p.path());
            FileStatus st = fs.getFileStatus(src);
            if (st.getLen() != p.bytes()) {
                throw new IOException(src + " has " + st.getLen() + " bytes, its writer reported " + p.bytes());
            }
            if (p.images() == 0) {
                continue;
            }
            String name = ImageIndex.shardFileName(train, shards.size());
            rename(src, new Path(tmp, name));
            shards.add(new ImageIndex.Shard(name, p.images(), p.bytes(), p.crc32c()));
            images += p.images();
        }
        return new ImageIndex.Split(images, shards);
    }

    /** An existing data set is moved aside, then deleted once the new one is in place (never a mix). */
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

    private void deleteLeftovers() {
        String prefix = "." + destination.getName() + ".";
        try {
            for (FileStatus st : fs.listStatus(destination.getParent())) {
                String name = st.getPath().getName();
                if (name.startsWith(prefix + "tmp-") || name.startsWith(prefix + "replaced-")) {
                    fs.delete(st.getPath(), true);
                }
            }
        } catch (IOException e) {
            LOG.warn("Could not clean up beside {}: {}", destination, e.toString());
        }
    }

    /** Hadoop's rename onto an existing directory moves the source inside it, hence the check. */
    private void rename(Path src, Path dst) throws IOException {
        if (fs.exists(dst)) {
            throw new FileAlreadyExistsException("cannot rename " + src + ": " + dst + " exists");
        }
        if (!fs.rename(src, dst)) {
            throw new IOException("rename " + src + " -> " + dst + " failed");
        }
    }

    private static void hsync(FSDataOutputStream out) throws IOException {
        out.flush();
        if (out.hasCapability(StreamCapabilities.HSYNC)) {
            out.hsync();
        }
    }

    private static List<Double> boxed(double[] v) {
        return Arrays.stream(v).boxed().toList();
    }

    private static String randomSuffix() {
        return String.format("%016x", ThreadLocalRandom.current().nextLong());
    }
}
