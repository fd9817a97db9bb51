package io.megalith.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.megalith.core.data.shards.ShardReading;
import io.megalith.core.data.shards.ShardSetWriter;
import io.megalith.core.data.shards.ShardedTextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * Batch sampling from prepared shards, in memory vs streaming (positional reads through the block cache), on a
 * local directory and on an in-process HDFS: open time (both verify every CRC32C) and tokens/s of
 * {@code train(step, 0, batch)}, medians of the rounds after warm-up rounds.
 *
 * <pre>  java -cp ... io.megalith.bench.ShardStreamingBench [rounds] [data MiB] [small cache blocks]</pre>
 */
public final class ShardStreamingBench {
    private static final int T = 256;
    private static final int BATCH = 32;
    private static final int BATCHES = 200; // per round: 1.6 M tokens
    private static final int WARMUP = 2;

    private ShardStreamingBench() {}

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int mib = args.length > 1 ? Integer.parseInt(args[1]) : 48;
        int smallCache = args.length > 2 ? Integer.parseInt(args[2]) : 16;
        CharTokenizer tok = CharTokenizer.ofAlphabet(alphabet(500));
        List<int[]> shards = tokens(mib, tok.vocabSize());
        System.out.printf("%d MiB of uint16 tokens in %d shards, T=%d, batch %d, %d batches a round, %d cores%n", mib,
                shards.size(), T, BATCH, BATCHES, Runtime.getRuntime().availableProcessors());

        File local = Files.createTempDirectory("megalith-stream-bench").toFile();
        File base = new File("target/minidfs-stream-bench").getAbsoluteFile();
        FileUtil.fullyDelete(base);
        Configuration conf = new Configuration();
        conf.setInt("dfs.replication", 1);
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(1).build();
        try {
            cluster.waitActive();
            String localDir = ShardSetWriter.write(new File(local, "set").toString(), conf, tok, shards, "fp",
                    JsonNodeFactory.instance.objectNode());
            String hdfsDir = ShardSetWriter.write(cluster.getFileSystem().getUri() + "/set", conf, tok, shards, "fp",
                    JsonNodeFactory.instance.objectNode());
            shards = null; // let the generator's arrays go before measuring memory
            for (String dir : new String[] {localDir, hdfsDir}) {
                String where = dir.startsWith("hdfs") ? "hdfs " : "local";
                run(where, "in memory                        ", dir, conf, ShardReading.IN_MEMORY, rounds);
                // a cache that holds the whole set: after the first touch of each block, no reads
                run(where, "stream, " + pad(mib + 8) + " MiB cache, 64 KiB blocks", dir, conf,
                        new ShardReading("true", (mib + 8) * 16, 64 << 10), rounds);
                // a cache of a third of the set: most windows miss; the block size is what a miss reads
                run(where, "stream, " + pad(smallCache) + " MiB cache, 64 KiB blocks", dir, conf,
                        new ShardReading("true", smallCache * 16, 64 << 10), rounds);
                run(where, "stream, " + pad(smallCache) + " MiB cache,  1 MiB blocks", dir, conf,
                        new ShardReading("true", smallCache, 1 << 20), rounds);
            }
        } finally {
            cluster.shutdown();
            FileUtil.fullyDelete(local);
        }
    }

    private static void run(String where, String mode, String dir, Configuration conf, ShardReading reading,
            int rounds) throws Exception {
        long t0 = System.nanoTime();
        try (ShardedTextData data = ShardedTextData.open(dir, conf, reading, 0.1, T, 1)) {
            double openS = (System.nanoTime() - t0) / 1e9;
            double[] rates = new double[rounds];
            long step = 0;
            for (int r = -WARMUP; r < rounds; r++) {
                long s = System.nanoTime();
                long sink = 0;
                for (int b = 0; b < BATCHES; b++) {
                    sink += data.train(step++, 0, BATCH).inputs()[0];
                }
                double rate = (double) BATCHES * BATCH * T / ((System.nanoTime() - s) / 1e9);
                if (r >= 0) {
                    rates[r] = rate;
                }
                if (sink == Long.MIN_VALUE) {
                    System.out.print(""); // keeps the loop from being optimised away
                }
            }
            double[] sorted = rates.clone();
            Arrays.sort(sorted);
            System.out.printf("%s %s: open %.2f s, median %.2f M tokens/s (rounds %s), block reads %d%n", where, mode,
                    openS, sorted[rounds / 2] / 1e6, Arrays.toString(Arrays.stream(rates)
                            .map(x -> Math.round(x / 1e4) / 100.0).toArray()), data.shards().blockReads());
        }
    }

    private static String pad(int n) {
        return String.format("%3d", n);
    }

    private static String alphabet(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.appendCodePoint(0x4E00 + i); // CJK ideographs: n distinct BMP characters
        }
        return sb.toString();
    }

    /** {@code mib} MiB of random uint16 ids below {@code vocab}, in 8 MiB shards. */
    private static List<int[]> tokens(int mib, int vocab) {
        SplittableRandom rnd = new SplittableRandom(7);
        List<int[]> shards = new ArrayList<>();
        for (long left = (long) mib << 19; left > 0; left -= 4L << 20) {
            int[] s = new int[(int) Math.min(4L << 20, left)];
            for (int i = 0; i < s.length; i++) {
                s[i] = rnd.nextInt(vocab);
            }
            shards.add(s);
        }
        return shards;
    }
}
