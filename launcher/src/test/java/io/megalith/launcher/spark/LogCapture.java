package io.megalith.launcher.spark;

import java.io.StringWriter;
import java.util.HashMap;
import java.util.Map;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.WriterAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.layout.PatternLayout;

/** Test helper: captures everything logged through Log4j 2 (Spark's logging too) at DEBUG and above. */
final class LogCapture implements AutoCloseable {
    private final StringWriter text = new StringWriter();
    private final WriterAppender appender;
    private final Level rootLevel;
    private final Map<LoggerConfig, Level> levels = new HashMap<>(); // named loggers, lowered
    private final LoggerContext ctx = (LoggerContext) LogManager.getContext(false);

    LogCapture() {
        Configuration config = ctx.getConfiguration();
        appender = WriterAppender.createAppender(
                PatternLayout.newBuilder().withPattern("%p %c - %m%n%throwable").withConfiguration(config).build(),
                null, text, "test-capture", false, true);
        appender.start();
        config.addAppender(appender);
        LoggerConfig root = config.getRootLogger();
        rootLevel = root.getLevel();
        root.addAppender(appender, Level.DEBUG, null);
        root.setLevel(Level.DEBUG);
        // named loggers (e.g. org.apache.spark at WARN on the console) would filter what the capture must see
        for (LoggerConfig named : config.getLoggers().values()) {
            if (named != root) {
                levels.put(named, named.getLevel());
                named.setLevel(Level.DEBUG);
            }
        }
        ctx.updateLoggers();
    }

    /** What was logged so far. */
    String text() {
        synchronized (text) {
            return text.toString();
        }
    }

    @Override
    public void close() {
        LoggerConfig root = ctx.getConfiguration().getRootLogger();
        root.removeAppender(appender.getName());
        root.setLevel(rootLevel);
        levels.forEach(LoggerConfig::setLevel);
        ctx.updateLoggers();
        appender.stop();
    }
}
