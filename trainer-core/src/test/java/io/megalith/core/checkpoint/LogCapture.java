package io.megalith.core.checkpoint;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;

/** Collects WARN and worse messages of one logger (the tests' slf4j binding is log4j2). */
final class LogCapture implements AutoCloseable {
    final List<String> warnings = new CopyOnWriteArrayList<>();
    private final Logger logger;
    private final Level previous;
    private final AbstractAppender appender;

    LogCapture(Class<?> owner) {
        logger = (Logger) LogManager.getLogger(owner);
        previous = logger.getLevel();
        appender = new AbstractAppender("capture-" + owner.getSimpleName(), null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent event) {
                if (event.getLevel().isMoreSpecificThan(Level.WARN)) {
                    warnings.add(event.getMessage().getFormattedMessage());
                }
            }
        };
        appender.start();
        logger.addAppender(appender);
        logger.setLevel(Level.WARN);
    }

    @Override
    public void close() {
        logger.removeAppender(appender);
        logger.setLevel(previous);
        appender.stop();
    }
}
