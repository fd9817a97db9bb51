package io.megalith.core.data.images;

import com.fasterxml.jackson.databind.JsonNode;
import io.megalith.core.data.shards.StagedDirectory;
import io.megalith.core.fs.RunDirFs;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.Path;

/**
 * Writes a prepared image data set so that it appears whole or not at all ({@link StagedDirectory}, as
 * {@code data.shards.ShardSetWriter} does for tokens): shards go into its work directory, {@link #commit} names them
 * in split order, writes {@code index.json} last and publishes the directory. {@link #close()} without a commit
 * deletes the temporary. One writer per destination at a time.
 */
public final class ImageShardWriter implements AutoCloseable {
    private final StagedDirectory dir;

    private ImageShardWriter(StagedDirectory dir) {
        this.dir = dir;
    }

    public static ImageShardWriter begin(String destination, Configuration conf) throws IOException {
        return new ImageShardWriter(StagedDirectory.begin(destination, conf));
    }

    /** Where shards are written before the commit (a URI). */
    public String workDir() {
        return dir.workDir();
    }

    public String destination() {
        return dir.destination();
    }

    /**
     * Writes {@code images} as shard file {@code name} of {@code workDir} (each task attempt its own name) durably,
     * with their CRC32C and pixel sums.
     *
     * @throws FileNotFoundException if the work directory is gone (the preparation was aborted)
     */
    public static PendingImageShard writeShard(String workDir, String name, Configuration conf, ImageSet images)
            throws IOException {
        RunDirFs work = RunDirFs.of(workDir, conf);
        Path file = work.file(name);
        int n = images.imageBytes();
        ByteBuffer record = ByteBuffer.allocate(ImageIndex.LABEL_BYTES + n).order(ByteOrder.LITTLE_ENDIAN);
        CRC32C crc = new CRC32C();
        try (FSDataOutputStream out = StagedDirectory.createShard(work, file, 1 << 16)) {
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
            StagedDirectory.hsync(out);
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
        dir.deleteWork();
        ImageIndex index = new ImageIndex(ImageIndex.FORMAT, ImageIndex.FORMAT_VERSION, Instant.now().toString(),
                channels, height, width, ImageIndex.BYTE_ORDER, ImageIndex.recordBytes(channels, height, width),
                classNames, boxed(stats.mean()), boxed(stats.std()), trainSplit, heldSplit, fingerprint, input);
        dir.write(ImageIndex.FILE_NAME, index.toJson()); // last: from now on the directory is complete
        dir.publish();
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
        dir.close();
    }

    private ImageIndex.Split name(List<PendingImageShard> pieces, boolean train) throws IOException {
        List<ImageIndex.Shard> shards = new ArrayList<>();
        long images = 0;
        for (PendingImageShard p : pieces) {
            Path src = new Path(p.path());
            dir.checkLength(src, p.bytes());
            if (p.images() == 0) {
                continue;
            }
            String name = ImageIndex.shardFileName(train, shards.size());
            dir.moveIn(src, name);
            shards.add(new ImageIndex.Shard(name, p.images(), p.bytes(), p.crc32c()));
            images += p.images();
        }
        return new ImageIndex.Split(images, shards);
    }

    private static List<Double> boxed(double[] v) {
        return Arrays.stream(v).boxed().toList();
    }
}
