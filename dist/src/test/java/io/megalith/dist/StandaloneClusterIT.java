package io.megalith.dist;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The spark-submit jar of this module, end to end on a real Spark standalone cluster (a master and two 1-core
 * workers on 127.0.0.1, see {@link StandaloneCluster}): {@code megalith train} submitted exactly as the README's
 * "On a Spark cluster" recipe says trains two data-parallel ranks, one on each worker's executor. The cluster has
 * only Spark's own jars, so the test also proves the jar carries everything else Megalith needs (libtorch
 * included). Everything it leaves is in target/standalone-it (logs, the run directory, Spark's event log).
 */
class StandaloneClusterIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int STEPS = 40; // it-addition.yaml's train.max_steps

    @Test
    void trainsTwoRanksOnTwoExecutorsOfAStandaloneCluster() throws Exception {
        Path dir = Path.of(System.getProperty("megalith.itDir")).toAbsolutePath();
        deleteRecursively(dir);
        Files.createDirectories(dir);
        try (InputStream config = getClass().getResourceAsStream("/it-addition.yaml")) {
            Files.copy(config, dir.resolve("conf.yaml"));
        }
        Path runDir = dir.resolve("run");
        Path events = Files.createDirectories(dir.resolve("events"));
        List<String> flags = List.of(System.getProperty("megalith.spark.jvmFlags").strip().split("\\s+"));

        long start = System.nanoTime();
        StandaloneCluster cluster = StandaloneCluster.start(dir, flags, 2, "1536m");
        long clusterUp = System.nanoTime();
        int exit;
        try {
            // the README recipe (conf.yaml shipped with --files, read by the driver from its working directory),
            // plus Spark's event log, uncompressed in one file, to see where the tasks ran
            exit = cluster.submit(dir, dir.resolve("submit.out"), dir.resolve("submit.log"), Duration.ofSeconds(180),
                    List.of("--conf", "spark.ui.enabled=false",
                            "--conf", "spark.eventLog.enabled=true", "--conf", "spark.eventLog.dir=" + events.toUri(),
                            "--conf", "spark.eventLog.rolling.enabled=false", "--conf", "spark.eventLog.compress=false",
                            "--executor-cores", "1", "--total-executor-cores", "2", "--executor-memory", "1g",
                            "--files", "conf.yaml",
                            System.getProperty("megalith.sparkJar"),
                            "train", "--config", "conf.yaml", "--set", "parallel.dp=2", "--set", "run.dir=" + runDir));
        } finally {
            long submitted = System.nanoTime();
            cluster.close();
            System.out.printf("cluster up in %.1f s, spark-submit %.1f s, stopped %.1f s later%n",
                    (clusterUp - start) / 1e9, (submitted - clusterUp) / 1e9, (System.nanoTime() - submitted) / 1e9);
        }
        deleteExecutorJarCopies(dir);
        assertThat(cluster.survivors()).as("processes still alive after stopping the cluster").isEmpty();

        assertThat(exit).as("spark-submit's exit code; its log ends:%n%s", StandaloneCluster.tail(dir.resolve("submit.log"), 40))
                .isZero();
        assertThat(Files.readString(dir.resolve("submit.out")))
                .contains("2 rank(s) (dp 2 x tp 1 x pp 1) as one Spark barrier stage on " + cluster.masterUrl())
                .contains("megalith: trained steps 0.." + STEPS);
        // the driver's console: Megalith's log4j2.xml replaces Spark's default before the SparkContext starts, so no
        // Spark INFO at all, neither its start-up nor scheduler chatter while the job runs (Spark's default layout is
        // "yy/MM/dd HH:mm:ss INFO Class: ...")
        assertThat(Files.readString(dir.resolve("submit.log"))).as("spark-submit's console")
                .doesNotContain("Skip current round of resource offers")
                .doesNotContainPattern("(?m)^[0-9/]{8} [0-9:]{8} INFO ");

        // metrics.jsonl: one loss per step 1..STEPS, falling
        List<JsonNode> records = new ArrayList<>();
        for (String line : StandaloneCluster.lines(runDir.resolve("metrics.jsonl"))) {
            JsonNode r = JSON.readTree(line);
            if (r.has("loss")) {
                records.add(r);
            }
        }
        assertThat(records).extracting(r -> r.get("step").asInt())
                .containsExactlyElementsOf(Stream.iterate(1, s -> s + 1).limit(STEPS).toList());
        double first = records.subList(0, 5).stream().mapToDouble(r -> r.get("loss").asDouble()).average().orElseThrow();
        double last = records.subList(STEPS - 5, STEPS).stream().mapToDouble(r -> r.get("loss").asDouble()).average()
                .orElseThrow();
        System.out.printf("mean loss of steps 1-5: %.4f, of steps %d-%d: %.4f%n", first, STEPS - 4, STEPS, last);
        assertThat(last).as("mean loss of the last 5 steps vs the first 5").isLessThan(0.8 * first);

        // a complete checkpoint of the last step (published only once its manifest is written)
        assertThat(runDir.resolve("checkpoints/step-%08d/manifest.json".formatted(STEPS))).isRegularFile();

        // Where the ranks ran. Spark's event log names the executor of each task of the barrier stage (its name is
        // BarrierJob's label); each worker's work dir has one directory per executor it launched for the app.
        Set<String> trainExecutors = trainStageExecutors(events);
        assertThat(trainExecutors).as("executors that ran the 2 ranks").hasSize(2);
        Set<String> launched = new TreeSet<>();
        for (int worker = 1; worker <= 2; worker++) {
            List<Path> executorDirs = executorDirs(StandaloneCluster.workDir(dir, worker));
            assertThat(executorDirs).as("executors launched by worker %d", worker).hasSize(1);
            assertThat(executorDirs.get(0).resolve("stderr")).isRegularFile();
            launched.add(executorDirs.get(0).getFileName().toString());
        }
        assertThat(launched).as("one rank's executor on each worker").isEqualTo(trainExecutors);
    }

    /** The executor ids of the successful tasks of the 'megalith: train ...' stage, from Spark's event log. */
    static Set<String> trainStageExecutors(Path events) throws IOException {
        List<Path> logs;
        try (Stream<Path> s = Files.list(events)) {
            logs = s.toList();
        }
        assertThat(logs).as("event logs").hasSize(1);
        Set<Integer> trainStages = new TreeSet<>();
        Set<String> executors = new TreeSet<>();
        Set<Integer> partitions = new TreeSet<>();
        for (String line : StandaloneCluster.lines(logs.get(0))) {
            JsonNode e = JSON.readTree(line);
            switch (e.path("Event").asText()) {
                case "SparkListenerStageSubmitted" -> {
                    JsonNode stage = e.get("Stage Info");
                    if (stage.path("Stage Name").asText().startsWith("megalith: train")) {
                        trainStages.add(stage.get("Stage ID").asInt());
                    }
                }
                case "SparkListenerTaskEnd" -> {
                    if (trainStages.contains(e.get("Stage ID").asInt())
                            && "Success".equals(e.path("Task End Reason").path("Reason").asText())) {
                        executors.add(e.get("Task Info").get("Executor ID").asText());
                        partitions.add(e.get("Task Info").get("Partition ID").asInt());
                    }
                }
                default -> { }
            }
        }
        assertThat(trainStages).as("barrier stages named 'megalith: train ...'").hasSize(1);
        assertThat(partitions).as("ranks that finished").containsExactly(0, 1);
        return executors;
    }

    /** work-N/app-ID/EXECUTOR_ID/ directories (stdout, stderr, the fetched jar) of a worker. */
    static List<Path> executorDirs(Path workDir) throws IOException {
        try (Stream<Path> s = Files.walk(workDir, 2)) {
            return s.filter(p -> workDir.relativize(p).getNameCount() == 2 && Files.isDirectory(p)).toList();
        }
    }

    /** Each executor fetched its own copy of the ~140 MB jar; the logs stay. */
    static void deleteExecutorJarCopies(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".jar") && Files.isRegularFile(p)
                    && !Files.isSymbolicLink(p)).toList()) {
                Files.delete(p);
            }
        }
    }

    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
