package io.megalith.launcher.data;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionDatasets;
import io.megalith.core.data.images.ImageIndex;
import io.megalith.core.data.images.ImageShardWriter;
import io.megalith.core.data.images.ImageShards;
import io.megalith.core.data.images.ImageSource;
import io.megalith.core.data.images.PendingImageShard;
import io.megalith.core.data.shards.InvalidShardSetException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.SerializableConfiguration;

/**
 * Prepares the images of a run (data.task images, or the source images of generated data.task captions) once, with
 * Spark, as {@link DataPreparation} does text: the driver resolves data.path ({@code ImageSource}: the files, the
 * splits, the image shape), each split is cut into contiguous pieces that executors read, decode and write as shards
 * in parallel, and the driver commits them in order with the training split's per-channel mean and std (exact pixel
 * sums from the tasks) into a verified image data set (package {@code io.megalith.core.data.images}), published
 * atomically. Same destination and reuse rule as text: {@code <data.cache_dir>/<fingerprint>} or
 * {@code <run.dir>/data}, nothing done while the fingerprint (files, sizes, modification times, split settings)
 * matches.
 */
public final class ImagePreparation {
    private final MegalithConfig cfg;
    private final SparkSession spark;
    private PrintStream console = System.out;
    private String destination;
    private int minPartitions;

    /** What a preparation did. */
    public record Result(String dir, boolean reused, String fingerprint, long trainImages, long heldOutImages,
            int shards, double seconds) {}

    /** A contiguous piece of a split, written by one task. */
    record Piece(boolean train, int index, int first, int count) implements Serializable {}

    public ImagePreparation(MegalithConfig cfg, SparkSession spark) {
        if (!cfg.images() && !cfg.captions()) {
            throw new IllegalArgumentException("data.task is " + cfg.data().task() + ": only images (and the source "
                    + "images of generated captions) are prepared here");
        }
        this.cfg = cfg;
        this.spark = spark;
    }

    /**
     * The prepared directory to pass to {@code ImageDatasets.open} (data.task images) or {@code CaptionDatasets.open}
     * (data.task captions: the source images the captioned canvases are generated from, prepared exactly as for
     * images), or null for the built-in set (nothing to read) and for captions read from JSON Lines (each rank reads
     * them in process).
     */
    public static String prepare(MegalithConfig cfg, SparkSession spark) throws IOException {
        boolean builtin = cfg.data().builtin() != null && !cfg.data().builtin().isBlank();
        boolean jsonl = cfg.captions() && CaptionDatasets.readsJsonl(cfg, spark.sparkContext().hadoopConfiguration());
        return builtin || jsonl ? null : new ImagePreparation(cfg, spark).run().dir();
    }

    public ImagePreparation console(PrintStream out) {
        this.console = out;
        return this;
    }

    public ImagePreparation destination(String dir) {
        this.destination = dir;
        return this;
    }

    /** Pieces (so shards and tasks) per split at least; default Spark's default parallelism, at least 2. */
    public ImagePreparation minPartitions(int n) {
        this.minPartitions = n;
        return this;
    }

    public Result run() throws IOException {
        long t0 = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        ImageSource source = ImageSource.resolve(cfg.data(), cfg.seed(), conf);
        String fp = source.fingerprint();
        String dest = destination != null ? destination : DataPreparation.defaultDestination(cfg, fp, conf);
        Optional<ImageIndex> existing = reusable(dest, fp, conf, true);
        if (existing.isPresent()) {
            return reused(dest, existing.get(), t0);
        }
        int partitions = minPartitions > 0 ? minPartitions : Math.max(2, spark.sparkContext().defaultParallelism());
        console.printf("megalith: data: preparing %,d + %,d images of %dx%dx%d from %s into %s with Spark%n",
                source.size(true), source.size(false), source.channels(), source.height(), source.width(),
                cfg.data().path(), dest);
        List<Piece> pieces = new ArrayList<>(pieces(true, source.size(true), partitions));
        pieces.addAll(pieces(false, source.size(false), partitions));
        try (ImageShardWriter writer = ImageShardWriter.begin(dest, conf)) {
            List<Written> written = write(source, pieces, writer.workDir(), conf);
            if (!ImageSource.resolve(cfg.data(), cfg.seed(), conf).fingerprint().equals(fp)) {
                throw new IOException("data.path " + cfg.data().path() + " changed while it was being prepared; run "
                        + "again");
            }
            ImageIndex index;
            try {
                index = writer.commit(shards(written, true), shards(written, false), source.channels(),
                        source.height(), source.width(), source.classNames(), fp, source.describe());
            } catch (FileAlreadyExistsException e) { // another preparation published meanwhile: fine if the same
                Optional<ImageIndex> theirs = reusable(dest, fp, conf, false);
                if (theirs.isPresent()) {
                    return reused(dest, theirs.get(), t0);
                }
                throw e;
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            int shards = index.train().shards().size() + index.heldOut().shards().size();
            console.printf("megalith: data: prepared %,d training + %,d held-out images in %d shards in %.1f s "
                    + "(mean %s, std %s): %s%n", index.train().images(), index.heldOut().images(), shards, secs,
                    index.mean(), index.std(), writer.destination());
            return new Result(writer.destination(), false, fp, index.train().images(), index.heldOut().images(),
                    shards, secs);
        }
    }

    /** [0, size) in {@code n} contiguous pieces (fewer for small splits). */
    static List<Piece> pieces(boolean train, int size, int n) {
        List<Piece> out = new ArrayList<>();
        int k = Math.max(1, Math.min(n, size));
        for (int i = 0; i < k && size > 0; i++) {
            int first = (int) ((long) size * i / k);
            int end = (int) ((long) size * (i + 1) / k);
            out.add(new Piece(train, i, first, end - first));
        }
        return out;
    }

    record Written(Piece piece, PendingImageShard shard) implements Serializable {}

    /** One task per piece: read and decode its images, write them as a shard. */
    private List<Written> write(ImageSource source, List<Piece> pieces, String workDir, Configuration conf) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Broadcast<SerializableConfiguration> confB = sc.broadcast(new SerializableConfiguration(conf));
        Broadcast<ImageSource> sourceB = sc.broadcast(source);
        String before = sc.getLocalProperty("spark.job.description");
        sc.setJobDescription("megalith data: images");
        try {
            List<Written> written = new ArrayList<>(sc.parallelize(pieces, Math.max(1, pieces.size())).map(p -> {
                Configuration c = confB.value().value();
                String name = String.format("%s-%05d-attempt-%d.bin", p.train() ? "train" : "held-out", p.index(),
                        TaskContext.get().taskAttemptId());
                return new Written(p, ImageShardWriter.writeShard(workDir, name, c,
                        sourceB.value().read(p.train(), p.first(), p.count(), c)));
            }).collect());
            written.sort(Comparator.comparingInt((Written w) -> w.piece().train() ? 0 : 1)
                    .thenComparingInt(w -> w.piece().index()));
            return written;
        } finally {
            sc.setLocalProperty("spark.job.description", before);
            confB.destroy();
            sourceB.destroy();
        }
    }

    private static List<PendingImageShard> shards(List<Written> written, boolean train) {
        return written.stream().filter(w -> w.piece().train() == train).map(Written::shard).toList();
    }

    private Result reused(String dest, ImageIndex ix, long t0) {
        console.printf("megalith: data: input unchanged (fingerprint %s), reusing %,d + %,d images at %s; nothing to "
                + "prepare%n", ix.fingerprint().substring(0, 12), ix.train().images(), ix.heldOut().images(), dest);
        return new Result(dest, true, ix.fingerprint(), ix.train().images(), ix.heldOut().images(),
                ix.train().shards().size() + ix.heldOut().shards().size(), (System.nanoTime() - t0) / 1e9);
    }

    private Optional<ImageIndex> reusable(String dest, String fp, Configuration conf, boolean explain)
            throws IOException {
        try {
            ImageIndex ix = ImageShards.inspect(dest, conf);
            if (ix.fingerprint().equals(fp)) {
                return Optional.of(ix);
            }
            if (explain) {
                console.printf("megalith: data: %s was prepared from other input or settings; preparing again%n", dest);
            }
        } catch (InvalidShardSetException notThere) {
            if (explain && !notThere.getMessage().contains("no " + ImageIndex.FILE_NAME)) {
                console.printf("megalith: data: %s; preparing again%n", notThere.getMessage());
            }
        }
        return Optional.empty();
    }
}
