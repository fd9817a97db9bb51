package io.megalith.launcher.data;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.shards.InvalidShardSetException;
import io.megalith.core.data.shards.ShardIndex;
import io.megalith.core.data.shards.ShardSetWriter;
import io.megalith.core.data.shards.TokenDtype;
import io.megalith.core.data.shards.TokenShards;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.fs.RunDirFs;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;

/**
 * Prepares the text of a run once, with Spark: reads {@code data.path} (file, directory or glob; text, JSON Lines
 * or Parquet; {@code file://} or {@code hdfs://}), builds the tokenizer on the driver from distributed passes,
 * tokenizes on the executors in parallel and writes a sharded token data set (format: package
 * {@code io.megalith.core.data.shards}), published atomically. Ranks then open it with
 * {@code ShardedTextData.open}.
 *
 * <p>Where: {@code <data.cache_dir>/<first 16 hex digits of the fingerprint>} when a cache directory is set
 * (several inputs, and several runs, share it), else {@code <run.dir>/data}. If a valid data set with the same
 * fingerprint (same files, sizes, modification times and settings) is there already, nothing is done: no Spark job
 * runs and no file is written. One preparation per destination at a time.
 *
 * <p>How input becomes tokens: {@link Documents}. Spark passes: char tokenizer 2 (alphabet, tokenize), BPE 3
 * (character counts, sample, tokenize); the input is read once per pass rather than cached.
 */
public final class DataPreparation {
    /**
     * Bound on the characters the BPE tokenizer is trained on, and so collected to the driver (~2 bytes each, plus
     * the trainer's word counts): about 10 million; larger inputs are sampled (see {@link TokenizerBuilder#bpe}).
     */
    public static final long BPE_SAMPLE_CHARS = 10_000_000L;

    private final MegalithConfig cfg;
    private final SparkSession spark;
    private PrintStream console = System.out;
    private String destination;
    private int minPartitions;
    private long bpeSampleChars = BPE_SAMPLE_CHARS;
    private Tokenization.ShardHook hook;

    /** What a preparation did. */
    public record Result(String dir, boolean reused, String fingerprint, long tokens, int shards, long documents,
            long skippedDocuments, double seconds) {}

    public DataPreparation(MegalithConfig cfg, SparkSession spark) {
        if (!"text".equals(cfg.data().task())) {
            throw new IllegalArgumentException("data.task is " + cfg.data().task() + ": only text is prepared");
        }
        this.cfg = cfg;
        this.spark = spark;
    }

    /** Prepares (or reuses) the run's data set; returns its directory, to pass to {@code ShardedTextData.open}. */
    public static String prepare(MegalithConfig cfg, SparkSession spark) throws IOException {
        return new DataPreparation(cfg, spark).run().dir();
    }

    /** Where progress lines go (default System.out). */
    public DataPreparation console(PrintStream out) {
        this.console = out;
        return this;
    }

    /** Prepares into this directory instead of the cache or run directory. */
    public DataPreparation destination(String dir) {
        this.destination = dir;
        return this;
    }

    /**
     * Minimum number of partitions (so shards) for text and JSON Lines; default Spark's default parallelism, at
     * least 2. Does not change the tokens, only how they are cut into shards.
     */
    public DataPreparation minPartitions(int n) {
        this.minPartitions = n;
        return this;
    }

    /** Overrides {@link #BPE_SAMPLE_CHARS} (part of the fingerprint). */
    public DataPreparation bpeSampleChars(long chars) {
        this.bpeSampleChars = chars;
        return this;
    }

    DataPreparation afterEachShard(Tokenization.ShardHook h) {
        this.hook = h;
        return this;
    }

    /** The default destination of a data set with this fingerprint. */
    public static String defaultDestination(MegalithConfig cfg, String fingerprint, Configuration conf)
            throws IOException {
        String cache = cfg.data().cacheDir();
        return cache != null ? RunDirFs.of(cache, conf).file(fingerprint.substring(0, 16)).toString()
                : RunDirFs.of(cfg.run().dir(), conf).file("data").toString();
    }

    /**
     * The data set a Spark launch of {@code cfg} prepared, if it is there: under the cache directory, by the
     * fingerprint of the input as it is now; else in {@code runDir}/data ({@code runDir}: where the run is now, which
     * may not be its saved run.dir). Empty when there is none (an in-process run, data.path gone, shards deleted).
     */
    public static Optional<String> existing(MegalithConfig cfg, String runDir, Configuration conf) throws IOException {
        String dir;
        if (cfg.data().cacheDir() != null) {
            try {
                String fingerprint = InputSpec.resolve(cfg.data(), conf, BPE_SAMPLE_CHARS).fingerprint();
                dir = defaultDestination(cfg, fingerprint, conf);
            } catch (FileNotFoundException inputGone) {
                return Optional.empty();
            }
        } else {
            dir = RunDirFs.of(runDir, conf).file("data").toString();
        }
        try {
            TokenShards.inspect(dir, conf);
            return Optional.of(dir);
        } catch (InvalidShardSetException none) {
            return Optional.empty();
        }
    }

    public Result run() throws IOException {
        long t0 = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        MegalithConfig.Data d = cfg.data();
        InputSpec spec = InputSpec.resolve(d, conf, bpeSampleChars);
        String fp = spec.fingerprint();
        String dest = destination != null ? destination : defaultDestination(cfg, fp, conf);
        Optional<ShardIndex> existing = reusable(dest, fp, conf, true);
        if (existing.isPresent()) {
            return reused(dest, existing.get(), t0);
        }
        int partitions = minPartitions > 0 ? minPartitions : Math.max(2, spark.sparkContext().defaultParallelism());
        console.printf("megalith: data: preparing %d %s file(s) (%,d bytes) from %s into %s with Spark%n",
                spec.files().size(), spec.format(), spec.totalBytes(), d.path(), dest);
        JavaRDD<Doc> docs = DocReader.read(spark, spec, partitions);
        SavedTokenizer tok = buildTokenizer(spec, docs);
        console.printf("megalith: data: %s tokenizer, vocabulary %,d%n", tok.kind(), tok.vocabSize());
        try (ShardSetWriter writer = ShardSetWriter.begin(dest, conf)) {
            List<Tokenization.Piece> pieces = Tokenization.run(docs, spec.records(), tok.file(), tok.vocabSize(),
                    writer.workDir(), conf, hook, "megalith data: tokenize");
            long tokens = pieces.stream().mapToLong(p -> p.shard().tokens()).sum();
            if (tokens == 0) {
                throw new IOException("data.path " + d.path() + " holds no text (0 tokens)");
            }
            if (!InputSpec.resolve(d, conf, bpeSampleChars).fingerprint().equals(fp)) {
                throw new IOException("data.path " + d.path() + " changed while it was being prepared; run again");
            }
            ShardIndex index;
            try {
                index = writer.commit(pieces.stream().map(Tokenization.Piece::shard).toList(), tok.file(), tok.kind(),
                        tok.vocabSize(), TokenDtype.forVocab(tok.vocabSize()), fp, spec.describe());
            } catch (FileAlreadyExistsException e) {
                // another preparation published the same destination meanwhile: fine if it is the same data
                Optional<ShardIndex> theirs = reusable(dest, fp, conf, false);
                if (theirs.isPresent()) {
                    return reused(dest, theirs.get(), t0);
                }
                throw e;
            }
            long docCount = pieces.stream().mapToLong(Tokenization.Piece::documents).sum();
            long skipped = pieces.stream().mapToLong(Tokenization.Piece::skipped).sum();
            double secs = (System.nanoTime() - t0) / 1e9;
            console.printf("megalith: data: prepared %,d tokens (%s) of %,d documents in %d shards in %.1f s: %s%n",
                    tokens, index.dtype(), docCount, index.shards().size(), secs, writer.destination());
            if (skipped > 0) {
                console.printf("megalith: data: skipped %,d records without text (null or missing %s, or blank)%n",
                        skipped, d.textField());
            }
            return new Result(writer.destination(), false, fp, tokens, index.shards().size(), docCount, skipped, secs);
        }
    }

    /** A tokenizer as its saved file, which is what executors and the data set get. */
    private record SavedTokenizer(byte[] file, String kind, int vocabSize) {}

    private SavedTokenizer buildTokenizer(InputSpec spec, JavaRDD<Doc> docs) throws IOException {
        MegalithConfig.Data d = cfg.data();
        try (Tokenizer tok = described("megalith data: tokenizer", () -> spec.bpe()
                ? TokenizerBuilder.bpe(spark, docs, d.bpeVocabSize(), d.valFraction(), bpeSampleChars)
                : TokenizerBuilder.chars(docs))) {
            return new SavedTokenizer(Tokenizers.toBytes(tok), tok.kind(), tok.vocabSize());
        }
    }

    private Result reused(String dest, ShardIndex ix, long t0) {
        console.printf("megalith: data: input unchanged (fingerprint %s), reusing %,d tokens in %d shards at %s; "
                + "nothing to prepare%n", ix.fingerprint().substring(0, 12), ix.totalTokens(), ix.shards().size(), dest);
        return new Result(dest, true, ix.fingerprint(), ix.totalTokens(), ix.shards().size(), -1, -1,
                (System.nanoTime() - t0) / 1e9);
    }

    /** The data set at {@code dest} if it is complete and has this fingerprint (checked cheaply, no Spark). */
    private Optional<ShardIndex> reusable(String dest, String fp, Configuration conf, boolean explain)
            throws IOException {
        try {
            ShardIndex ix = TokenShards.inspect(dest, conf);
            if (ix.fingerprint().equals(fp)) {
                return Optional.of(ix);
            }
            if (explain) {
                console.printf("megalith: data: %s was prepared from other input or settings; preparing again%n", dest);
            }
        } catch (InvalidShardSetException notThere) {
            if (explain && !notThere.getMessage().contains("no " + ShardIndex.FILE_NAME)) {
                console.printf("megalith: data: %s; preparing again%n", notThere.getMessage());
            }
        }
        return Optional.empty();
    }

    /** Runs {@code body} with a Spark job description (shown in the UI), restoring the caller's. */
    private static final String JOB_DESCRIPTION = "spark.job.description"; // what SparkContext.setJobDescription sets

    private <T> T described(String description, Supplier<T> body) {
        SparkContext sc = spark.sparkContext();
        String before = sc.getLocalProperty(JOB_DESCRIPTION);
        sc.setJobDescription(description);
        try {
            return body.get();
        } finally {
            sc.setLocalProperty(JOB_DESCRIPTION, before);
        }
    }
}
