package io.megalith.launcher.spark;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URL;
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
                    .isEqualTo(org.apache.logging.log4j.Level.WARN);
            // ... and where they go: the console, on stderr
            assertThat(ctx.getConfiguration().getRootLogger().getAppenders().values())
                    .anySatisfy(a -> assertThat(a).isInstanceOfSatisfying(
                            org.apache.logging.log4j.core.appender.ConsoleAppender.class,
                            c -> assertThat(c.getTarget())
                                    .isEqualTo(org.apache.logging.log4j.core.appender.ConsoleAppender.Target.SYSTEM_ERR)));
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
}
