package io.megalith.launcher.data;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.shards.TokenShards;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;

/** Inputs, configs and probes shared by the data preparation tests. */
final class PrepFixtures {
    private PrepFixtures() {}

    /** A config for task=text on {@code path}, run directory {@code runDir}, plus overrides. */
    static MegalithConfig config(String path, String runDir, String... overrides) {
        List<String> all = new ArrayList<>(List.of("data.task=text", "data.path=" + path, "run.dir=" + runDir));
        all.addAll(Arrays.asList(overrides));
        return ConfigLoader.fromYaml("", all, "test");
    }

    /** Many lines of pseudo-text with characters outside the BMP, a CR before one LF, tabs; ends in "\n". */
    static String text(int lines, long seed) {
        Random rnd = new Random(seed);
        String[] words = {"the", "king", "river", "of", "and", "Morning", "ünïcode", "\uD83D\uDE00", "to", "a", "\t"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < lines; i++) {
            int n = rnd.nextInt(12); // some lines are empty
            for (int w = 0; w < n; w++) {
                sb.append(w == 0 ? "" : " ").append(words[rnd.nextInt(words.length)]);
            }
            sb.append(i == lines / 2 ? "\r\n" : "\n");
        }
        return sb.toString();
    }

    static int[] allTokens(String dir, Configuration conf) throws Exception {
        TokenShards shards = TokenShards.open(dir, conf);
        int[] all = new int[Math.toIntExact(shards.size())];
        shards.read(0, all);
        return all;
    }

    /** A console whose output the test can read. */
    static final class Console {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

        String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }
    }

    /**
     * Records the description of every Spark job started. Listener events arrive asynchronously, so
     * {@link #jobsDuring} brackets the code with marker jobs: once the closing marker is seen, every job started
     * before it has been seen too (the listener bus delivers in order).
     */
    static final class JobLog extends SparkListener {
        private final List<String> started = new CopyOnWriteArrayList<>();
        private int markers;

        @Override
        public void onJobStart(SparkListenerJobStart job) {
            started.add(String.valueOf(job.properties().getProperty("spark.job.description")));
        }

        /** Descriptions of the Spark jobs {@code body} started. */
        List<String> jobsDuring(SparkContext sc, ThrowingRunnable body) throws Exception {
            String open = marker(sc);
            int from = started.indexOf(open) + 1;
            body.run();
            String close = marker(sc);
            return new ArrayList<>(started.subList(from, started.indexOf(close)));
        }

        private String marker(SparkContext sc) throws InterruptedException {
            String name = "marker-" + markers++;
            sc.setJobDescription(name);
            JavaSparkContext.fromSparkContext(sc).parallelize(List.of(1), 1).count();
            sc.setJobDescription(null);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!started.contains(name)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("listener never saw " + name);
                }
                Thread.sleep(10);
            }
            return name;
        }
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }
}
