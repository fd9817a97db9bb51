package io.megalith.dist;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real Spark standalone cluster on 127.0.0.1 as child JVMs of this test: one master and two workers of one
 * core each, so a 2-rank barrier job gets one rank per worker. Spark is laid out from Maven, not downloaded:
 * {@code SPARK_HOME/jars} holds symlinks to exactly Spark's dependencies ({@code scripts/spark-home/pom.xml},
 * resolved by the Maven of this build), as in a Spark distribution; workers build their executors' classpath
 * from that folder. Every port is chosen by the OS (port 0) and read back from the logs, so nothing can race
 * for a port and several clusters can run on one machine. {@link #close()} kills every process it started,
 * executors included, and is also a shutdown hook in case the test JVM is stopped.
 */
final class StandaloneCluster implements AutoCloseable {
    static final String HOST = "127.0.0.1";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final Path dir;
    private final Path sparkHome;
    private final List<String> jvmFlags;
    private final List<Process> processes = new ArrayList<>(); // in start order; stopped in reverse
    private final List<ProcessHandle> stopped = new ArrayList<>(); // everything stopAll() stopped, executors too
    private final Thread shutdownHook = new Thread(this::stopAll, "standalone-cluster-stop");
    private String masterUrl;

    private StandaloneCluster(Path dir, List<String> jvmFlags) {
        this.dir = dir;
        this.sparkHome = dir.resolve("spark-home");
        this.jvmFlags = jvmFlags;
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** Lays out SPARK_HOME in {@code dir} and starts a master and {@code workers} workers of 1 core each. */
    static StandaloneCluster start(Path dir, List<String> jvmFlags, int workers, String workerMemory)
            throws IOException, InterruptedException {
        StandaloneCluster cluster = new StandaloneCluster(dir, jvmFlags);
        try {
            cluster.layOutSparkHome();
            Path masterLog = dir.resolve("master.log");
            cluster.spark(masterLog, "-Xmx512m", "org.apache.spark.deploy.master.Master",
                    "--host", HOST, "--port", "0", "--webui-port", "0");
            Matcher url = cluster.await(masterLog, Pattern.compile("Starting Spark master at (spark://\\S+)"), 1);
            cluster.masterUrl = url.group(1);
            for (int i = 1; i <= workers; i++) {
                cluster.spark(dir.resolve("worker-" + i + ".log"), "-Xmx512m", "org.apache.spark.deploy.worker.Worker",
                        "--host", HOST, "--port", "0", "--webui-port", "0", "--cores", "1", "--memory", workerMemory,
                        "--work-dir", workDir(dir, i).toString(), cluster.masterUrl);
            }
            cluster.await(masterLog, Pattern.compile("Registering worker"), workers);
            return cluster;
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            cluster.close();
            throw e;
        }
    }

    static Path workDir(Path dir, int worker) {
        return dir.resolve("work-" + worker);
    }

    String masterUrl() {
        return masterUrl;
    }

    /**
     * Runs Spark's SparkSubmit main class in {@code cwd} (client mode: this process is the driver), stdout and stderr
     * to files; returns its exit code, or throws if it did not finish within {@code timeout}.
     */
    int submit(Path cwd, Path stdout, Path stderr, Duration timeout, List<String> args)
            throws IOException, InterruptedException {
        List<String> command = java("-Xmx1g", "org.apache.spark.deploy.SparkSubmit");
        command.addAll(List.of("--master", masterUrl, "--deploy-mode", "client",
                "--conf", "spark.driver.host=" + HOST, "--conf", "spark.driver.bindAddress=" + HOST));
        command.addAll(args);
        Process driver = start(new ProcessBuilder(command).directory(cwd.toFile())
                .redirectOutput(stdout.toFile()).redirectError(stderr.toFile()));
        if (!driver.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            throw new AssertionError("spark-submit did not finish in " + timeout.toSeconds() + " s; its log ends:\n"
                    + tail(stderr, 30));
        }
        return driver.exitValue();
    }

    /** Stops the driver, the workers with their executors, then the master; returns when all are gone. */
    @Override
    public void close() {
        stopAll();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // the hook is running or has run: nothing left to do
        }
    }

    /** After {@link #close()}: the processes it stopped (executors included) that are still alive. */
    synchronized List<ProcessHandle> survivors() {
        return stopped.stream().filter(ProcessHandle::isAlive).toList();
    }

    private synchronized void stopAll() {
        for (int i = processes.size() - 1; i >= 0; i--) {
            Process p = processes.get(i);
            // a worker stops its executors when it exits normally; they would outlive a SIGKILLed worker
            List<ProcessHandle> children = p.descendants().toList();
            stop(p.toHandle());
            children.forEach(StandaloneCluster::stop);
            stopped.add(p.toHandle());
            stopped.addAll(children);
        }
    }

    /** SIGTERM, up to 10 s for Spark's shutdown hooks, then SIGKILL; never throws, so the others get stopped too. */
    private static void stop(ProcessHandle p) {
        if (!p.isAlive()) {
            return;
        }
        p.destroy();
        try {
            p.onExit().get(10, TimeUnit.SECONDS);
        } catch (Exception notYet) {
            p.destroyForcibly();
            try {
                p.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("could not stop process " + p.pid() + ": " + e);
            }
        }
    }

    /** SPARK_HOME/jars: symlinks to the jars of Spark's dependency closure in the local Maven repository. */
    private void layOutSparkHome() throws IOException, InterruptedException {
        Path jars = Files.createDirectories(sparkHome.resolve("jars"));
        Path classpath = dir.resolve("spark-classpath.txt");
        Path pom = Path.of(System.getProperty("basedir", "."), "src/test/scripts/spark-home/pom.xml").toAbsolutePath();
        List<String> mvn = new ArrayList<>(List.of(Path.of(System.getProperty("maven.home"), "bin", "mvn").toString(),
                "-B", "-q", "-f", pom.toString(),
                // the plugin's version comes from the root pom's pluginManagement; no prefix lookup
                "org.apache.maven.plugins:maven-dependency-plugin:build-classpath", "-Dmdep.outputFile=" + classpath,
                "-Dmaven.repo.local=" + System.getProperty("maven.repo.local")));
        if (Boolean.getBoolean("maven.offline")) {
            mvn.add("-o");
        }
        Path settings = Path.of(System.getProperty("maven.settings", ""));
        if (Files.isRegularFile(settings)) { // e.g. a mirror: this build's -s settings.xml
            mvn.addAll(List.of("-s", settings.toString()));
        }
        Path log = dir.resolve("spark-home.log");
        Process resolve = new ProcessBuilder(mvn).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!resolve.waitFor(120, TimeUnit.SECONDS) || resolve.exitValue() != 0) {
            resolve.destroyForcibly();
            throw new IllegalStateException("resolving Spark's jars failed: " + mvn + "\n" + tail(log, 30));
        }
        for (String jar : Files.readString(classpath).strip().split(":")) {
            Path target = Path.of(jar);
            Files.createSymbolicLink(jars.resolve(target.getFileName()), target);
        }
    }

    /** {@code java <Spark's module flags> <heap> -cp SPARK_HOME/jars/* <mainClass>} */
    private List<String> java(String heap, String mainClass) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmFlags);
        // master, workers and driver only coordinate: the quick JIT and one GC thread leave the 2 cores of a CI
        // machine to the 5 other JVMs starting at the same time (executors are started by Spark, without these)
        command.addAll(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
        command.addAll(List.of(heap, "-cp", sparkHome.resolve("jars") + "/*", mainClass));
        return command;
    }

    private void spark(Path log, String heap, String mainClass, String... args) throws IOException {
        List<String> command = java(heap, mainClass);
        command.addAll(Arrays.asList(args));
        start(new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()));
    }

    private synchronized Process start(ProcessBuilder pb) throws IOException {
        Map<String, String> env = pb.environment();
        env.put("SPARK_HOME", sparkHome.toString());
        env.put("SPARK_SCALA_VERSION", "2.13"); // else Spark looks for a Scala version in SPARK_HOME's layout
        env.put("SPARK_LOCAL_IP", HOST); // else Spark binds (and advertises) the machine's external address
        env.put("JAVA_HOME", System.getProperty("java.home")); // the JDK the workers start executors with
        env.put("OMP_NUM_THREADS", "1"); // executors inherit it: one libtorch/OpenMP thread per 1-core rank
        env.put("SPARK_LOCAL_DIRS", dir.resolve("local").toString()); // Spark's scratch space (jar copies) not in /tmp
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    /** Waits until {@code count} lines of {@code log} match {@code pattern}; returns the first match. */
    private Matcher await(Path log, Pattern pattern, int count) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (true) {
            List<Matcher> found = new ArrayList<>();
            if (Files.exists(log)) {
                for (String line : lines(log)) {
                    Matcher m = pattern.matcher(line);
                    if (m.find()) {
                        found.add(m);
                    }
                }
            }
            if (found.size() >= count) {
                return found.get(0);
            }
            if (System.nanoTime() > deadline || anyExited()) {
                throw new IllegalStateException("no " + count + " lines '" + pattern + "' in " + log
                        + " (a process exited, or " + START_TIMEOUT.toSeconds() + " s passed):\n" + tail(log, 30));
            }
            Thread.sleep(200);
        }
    }

    /** A log's lines; lenient about bytes that are not UTF-8 (Files.readAllLines would throw). */
    static List<String> lines(Path file) throws IOException {
        return new String(Files.readAllBytes(file), StandardCharsets.UTF_8).lines().toList();
    }

    private synchronized boolean anyExited() {
        return processes.stream().anyMatch(p -> !p.isAlive());
    }

    static String tail(Path file, int lines) {
        try {
            List<String> all = lines(file);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(" + file + ": " + e + ")";
        }
    }
}
