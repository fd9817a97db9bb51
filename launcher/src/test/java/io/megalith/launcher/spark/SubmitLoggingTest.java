package io.megalith.launcher.spark;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.launcher.cli.Megalith;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.ConsoleAppender;
import org.apache.spark.deploy.SparkSubmit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver's console under spark-submit: SparkSubmit has configured log4j2 with Spark's own
 * {@code log4j2-defaults.properties} (the real file, from Spark's jar) before Megalith's main runs.
 */
class SubmitLoggingTest {
    @TempDir
    Path tmp;

    private static LoggerContext configured(String name, URI config) {
        LoggerContext ctx = new LoggerContext(name);
        ctx.setConfigLocation(config);
        return ctx;
    }

    @Test
    void sparkInfoLeavesTheConsoleMegalithsInfoStays() throws Exception {
        URL sparkDefault = getClass().getClassLoader().getResource("org/apache/spark/log4j2-defaults.properties");
        assertThat(sparkDefault).as("Spark's default log4j2 configuration on the classpath").isNotNull();
        LoggerContext ctx = configured("spark-submit", sparkDefault.toURI());
        try {
            assertThat(SubmitLogging.isSparkDefault(ctx.getConfiguration())).isTrue();
            assertThat(ctx.getLogger("org.apache.spark.scheduler.TaskSchedulerImpl").isInfoEnabled())
                    .as("Spark's default prints its INFO: what this fixes").isTrue();

            assertThat(SubmitLogging.replaceSparkDefault(ctx)).isTrue();

            // the effective levels (log4j shares one console stream between contexts, so the output itself is not
            // captured reliably in a test JVM; the spark-submit IT in dist checks the real console)
            assertThat(ctx.getLogger("org.apache.spark.scheduler.TaskSchedulerImpl").isInfoEnabled()).isFalse();
            assertThat(ctx.getLogger("org.apache.spark.scheduler.TaskSetManager").isWarnEnabled()).isTrue();
            assertThat(ctx.getLogger("io.megalith.launcher.train.DistributedTraining").isInfoEnabled()).isTrue();
            assertThat(ctx.getConfiguration().getLoggerConfig("org.apache.spark").getLevel())
                    .isEqualTo(Level.WARN);
            // ... and where they go: the console, on stderr
            assertThat(ctx.getConfiguration().getRootLogger().getAppenders().values())
                    .anySatisfy(a -> assertThat(a).isInstanceOfSatisfying(
                            ConsoleAppender.class,
                            c -> assertThat(c.getTarget())
                                    .isEqualTo(ConsoleAppender.Target.SYSTEM_ERR)));
        } finally {
            ctx.stop();
        }
    }

    @Test
    void aConfigurationTheUserChoseIsLeftAlone() throws Exception {
        Path own = tmp.resolve("log4j2.properties");
        Files.writeString(own, """
                rootLogger.level = info
                rootLogger.appenderRef.stdout.ref = console
                appender.console.type = Console
                appender.console.name = console
                appender.console.target = SYSTEM_ERR
                appender.console.layout.type = PatternLayout
                appender.console.layout.pattern = %p %c: %m%n
                """);
        LoggerContext ctx = configured("user", own.toUri());
        try {
            assertThat(SubmitLogging.replaceSparkDefault(ctx)).isFalse();
            assertThat(ctx.getLogger("org.apache.spark.SparkContext").isInfoEnabled()).isTrue();
        } finally {
            ctx.stop();
        }
    }

    /**
     * The real thing, as the README's spark-submit recipe runs it (local[2] instead of a cluster): SparkSubmit starts
     * on a classpath without Megalith or any log4j configuration, so Spark's INFO default is in force, and Megalith's
     * classes come from the application jar, in SparkSubmit's child class loader. Neither the SparkContext's start-up
     * nor the barrier stage may print a Spark INFO line (Spark's layout: "yy/MM/dd HH:mm:ss INFO Class: ...").
     */
    @Test
    void noSparkInfoReachesTheConsoleOfASparkSubmit() throws Exception {
        Path classes = Path.of(SubmitLogging.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path appJar = jarOf(classes, tmp.resolve("megalith-app.jar"));
        String testClassPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> sparkClassPath = Arrays.stream(testClassPath.split(File.pathSeparator))
                .filter(e -> !e.isEmpty() && !Path.of(e).toAbsolutePath().startsWith(classes.getParent()))
                .toList();
        try (URLClassLoader submitLoader = new URLClassLoader(sparkClassPath.stream().map(SubmitLoggingTest::url)
                .toArray(URL[]::new), null)) {
            for (String config : List.of("log4j2.xml", "log4j2.properties", "log4j2-test.xml", "log4j2-test.properties")) {
                assertThat(submitLoader.getResource(config)).as("%s on SparkSubmit's classpath", config).isNull();
            }
        }
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments()); // Spark's module flags among them
        command.addAll(List.of("-Xmx1g", "-cp", String.join(File.pathSeparator, sparkClassPath),
                SparkSubmit.class.getName(), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
                "--class", Megalith.class.getName(), appJar.toString(), "spark-check", "--ranks", "2"));
        Path out = tmp.resolve("submit.out");
        Path err = tmp.resolve("submit.err");
        ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        Process submit = pb.start();
        try {
            assertThat(submit.waitFor(180, TimeUnit.SECONDS)).as("spark-submit finished within 180 s").isTrue();
        } finally {
            submit.destroyForcibly();
        }
        String console = Files.readString(err, StandardCharsets.UTF_8);
        assertThat(submit.exitValue()).as("spark-submit's exit code; its console:%n%s", console).isZero();
        assertThat(Files.readString(out, StandardCharsets.UTF_8)).contains("megalith: spark-check ok: 2 ranks");
        assertThat(console).as("spark-submit's console")
                .doesNotContainPattern("(?m)^[0-9/]{8} [0-9:]{8} INFO ")
                .doesNotContain("Using Spark's default log4j profile");
    }

    private static URL url(String classPathEntry) {
        try {
            return Path.of(classPathEntry).toUri().toURL();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The application jar: the launcher's classes and resources (its log4j2.xml among them). */
    private static Path jarOf(Path classes, Path jar) throws IOException {
        try (OutputStream file = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(file);
                Stream<Path> files = Files.walk(classes)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace(File.separatorChar, '/')));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
        return jar;
    }
}
