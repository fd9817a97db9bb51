package io.megalith.launcher.spark;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.logging.log4j.core.LoggerContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver's console under spark-submit: SparkSubmit has configured log4j2 with Spark's own
 * {@code log4j2-defaults.properties} (the real file, from Spark's jar) before Megalith's main runs.
 */
class SubmitLoggingTest {
    @TempDir
    Path tmp;

    private static LoggerContext configured(String name, java.net.URI config) {
        LoggerContext ctx = new LoggerContext(name);
        ctx.setConfigLocation(config);
        return ctx;
    }

    @Test
    void sparkInfoLeavesTheConsoleMegalithsInfoStays() throws Exception {
        URL sparkDefault = getClass().getClassLoader().getResource("org/apache/spark/log4j2-defaults.properties");
        assertThat(sparkDefault).as("Spark's default log4j2 configuration on the classpath").isNotNull();
        PrintStream err = System.err;
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        LoggerContext ctx = null;
        try {
            // the console appender takes System.err when it is configured: capture it from the start
            System.setErr(new PrintStream(console, true, StandardCharsets.UTF_8));
            ctx = configured("spark-submit", sparkDefault.toURI());
            assertThat(SubmitLogging.isSparkDefault(ctx.getConfiguration())).isTrue();
            assertThat(ctx.getLogger("org.apache.spark.scheduler.TaskSchedulerImpl").isInfoEnabled())
                    .as("Spark's default prints its INFO: what this fixes").isTrue();

            assertThat(SubmitLogging.replaceSparkDefault(ctx)).isTrue();

            ctx.getLogger("org.apache.spark.scheduler.TaskSchedulerImpl").info("Skip current round of resource offers "
                    + "for barrier stage 0 because the barrier taskSet requires 2 slots, while the total number of "
                    + "available slots is 0.");
            ctx.getLogger("org.apache.spark.SparkContext").info("Running Spark version 4.2.0");
            ctx.getLogger("org.apache.spark.scheduler.TaskSetManager").warn("Lost task 0.0 in stage 1.0");
            ctx.getLogger("io.megalith.launcher.train.DistributedTraining").info("attempt 1 of 3 failed: test");
        } finally {
            System.setErr(err);
            if (ctx != null) {
                ctx.stop();
            }
        }
        String printed = console.toString(StandardCharsets.UTF_8);
        assertThat(printed).doesNotContain("Skip current round", "Running Spark version")
                .contains("WARN  TaskSetManager - Lost task 0.0", "INFO  DistributedTraining - attempt 1 of 3 failed");
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
}
