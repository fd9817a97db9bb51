package io.megalith.launcher.data;

import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.tensor.CounterRng;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;

/**
 * Builds the tokenizer on the driver from distributed passes over the input. Results depend only on the input and
 * the settings, never on how Spark partitions it.
 */
final class TokenizerBuilder {
    private static final long SAMPLE_KEY = CounterRng.key(0x6D6567616C697468L, "data.bpe_sample");

    private TokenizerBuilder() {}

    /** Char: the sorted distinct code points of the whole stream (each executor collects its own, as a bit set). */
    static CharTokenizer chars(JavaRDD<Doc> docs) {
        List<BitSet> parts = docs.mapPartitions(it -> {
            BitSet seen = new BitSet();
            while (it.hasNext()) {
                Doc d = it.next();
                if (d.text() != null) {
                    Documents.text(d).codePoints().forEach(seen::set);
                }
            }
            return Collections.singletonList(seen).iterator();
        }).collect();
        BitSet all = new BitSet();
        parts.forEach(all::or);
        all.set(Documents.NEWLINE.codePointAt(0)); // the separator, even for an input without text
        int[] codePoints = all.stream().toArray();
        return CharTokenizer.ofAlphabet(new String(codePoints, 0, codePoints.length));
    }

    /** Characters of one piece, for the global position of every piece. */
    record PieceChars(Pieces.Key key, long chars) implements Serializable {}

    /** A sampled chunk of a document (cut at the end of the training part); sorts in stream order. */
    record Sampled(int file, long pos, int chunk, String text) implements Serializable {}

    /** Sampling unit: small enough that the sample size is close to its target, large enough to hold many words. */
    static final int CHUNK_CHARS = 4096;

    /**
     * BPE, trained on the first {@code 1 - valFraction} of the stream's characters, as {@code TrainingRun} does on a
     * whole text. When that exceeds {@code sampleChars} characters, it is trained on a sample of about that many:
     * documents are cut into chunks of {@value #CHUNK_CHARS} characters and each chunk is kept with probability
     * sampleChars / training characters, decided by a hash of (file, position, chunk). So the sample is spread over
     * the whole training part, deterministic, independent of the partitioning, and within a few percent of
     * sampleChars (binomial on thousands of chunks). Only the sample is collected to the driver.
     */
    static BpeTokenizer bpe(SparkSession spark, JavaRDD<Doc> docs, int vocabSize, double valFraction, long sampleChars) {
        List<PieceChars> pieces = new ArrayList<>(docs.mapPartitions(it -> Pieces.each(it, (key, piece) -> {
            long chars = 0;
            while (piece.hasNext()) {
                Doc d = piece.next();
                chars += d.text() == null ? 0 : Documents.text(d).length();
            }
            return new PieceChars(key, chars);
        }).iterator()).collect());
        pieces.sort(Comparator.comparing(PieceChars::key));
        Map<Pieces.Key, Long> starts = new HashMap<>(); // piece -> stream position of its first character
        long total = 0;
        for (PieceChars p : pieces) {
            starts.put(p.key(), total);
            total += p.chars();
        }
        long trainChars = Math.round(total * (1 - valFraction));
        double keep = trainChars <= sampleChars ? 1.0 : (double) sampleChars / trainChars;
        Broadcast<Map<Pieces.Key, Long>> startsB = JavaSparkContext.fromSparkContext(spark.sparkContext()).broadcast(starts);
        List<Sampled> sample = new ArrayList<>(docs.mapPartitions(it -> {
            List<Sampled> out = new ArrayList<>();
            Pieces.each(it, (key, piece) -> {
                long at = startsB.value().get(key);
                while (piece.hasNext() && at < trainChars) {
                    Doc d = piece.next();
                    if (d.text() == null) {
                        continue;
                    }
                    String s = Documents.text(d);
                    for (int c = 0; c * CHUNK_CHARS < s.length() && at + (long) c * CHUNK_CHARS < trainChars; c++) {
                        if (keep >= 1 || sampled(d, c, keep)) {
                            int from = c * CHUNK_CHARS;
                            int to = (int) Math.min(Math.min(s.length(), from + CHUNK_CHARS), trainChars - at);
                            out.add(new Sampled(d.file(), d.pos(), c, s.substring(from, to)));
                        }
                    }
                    at += s.length();
                }
                return null;
            });
            return out.iterator();
        }).collect());
        startsB.destroy();
        sample.sort(Comparator.comparingInt(Sampled::file).thenComparingLong(Sampled::pos).thenComparingInt(Sampled::chunk));
        StringBuilder text = new StringBuilder();
        sample.forEach(s -> text.append(s.text()));
        return BpeTokenizer.train(text.toString(), vocabSize);
    }

    private static boolean sampled(Doc d, int chunk, double keep) {
        return (CounterRng.bits(CounterRng.key(SAMPLE_KEY, d.file(), d.pos()), chunk) >>> 11) * 0x1.0p-53 < keep;
    }
}
