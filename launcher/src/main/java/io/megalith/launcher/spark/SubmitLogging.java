package io.megalith.launcher.spark;

import java.net.URISyntaxException;
import java.net.URL;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.DefaultConfiguration;
import org.apache.spark.SparkContext$;

/**
 * The driver's console under {@code spark-submit}. SparkSubmit configures log4j2 before Megalith's main runs, from
 * the classpath it started with, which does not hold Megalith's jar: without a {@code log4j2.properties} in
 * {@code SPARK_CONF_DIR} that is Spark's built-in default, INFO for everything, so the console fills with Spark's
 * chatter (the SparkContext's ~45 start-up lines, then "Skip current round of resource offers ..." every second
 * while a barrier stage waits for slots) around Megalith's progress. This puts Megalith's own {@code log4j2.xml} in
 * its place (the console the local {@code megalith} command has: warnings from libraries, info from Megalith), and
 * only then: a configuration the user chose ({@code -Dlog4j2.configurationFile}, {@code SPARK_CONF_DIR/log4j2.properties})
 * is left alone.
 *
 * <p>Before the replacement, Spark's logging is initialized: SparkSubmit un-initializes it before calling the main
 * class, and Spark 4.2 then loads its default again on its next log call (the SparkContext's "Running Spark
 * version"), undoing any replacement made before that call. Initializing it here, silently, makes that load happen
 * now, before ours, so the SparkContext starts with Megalith's console. ({@code spark.log.level} would not do:
 * the SparkContext applies it only after its first lines, and to the root logger, so Megalith's INFO too.)
 */
public final class SubmitLogging {
    /** Megalith's console configuration, in the launcher's (and so the spark-submit jar's) resources. */
    static final String CONFIG = "/log4j2.xml";

    private SubmitLogging() {}

    /**
     * Under spark-submit (SparkSubmit sets {@code spark.master}), replaces Spark's default configuration. log4j keeps
     * a context per class loader: Spark's classes log through the one of the loader that holds log4j (Spark's
     * classpath), and Megalith's jar is in a child loader, whose context {@code LogManager.getContext(false)} would
     * return here; so the contexts are named by loader, and each is replaced once.
     */
    public static void applyIfSubmitted() {
        if (System.getProperty("spark.master") == null) {
            return;
        }
        // any object with Spark's Logging trait: it initializes Spark's logging once per JVM, silent = no banner
        SparkContext$.MODULE$.initializeLogIfNecessary(false, true);
        Set<Object> done = Collections.newSetFromMap(new IdentityHashMap<>());
        for (ClassLoader loader : new ClassLoader[] {LogManager.class.getClassLoader(),
            SubmitLogging.class.getClassLoader()}) {
            if (LogManager.getContext(loader, false) instanceof LoggerContext ctx && done.add(ctx)) {
                replaceSparkDefault(ctx);
            }
        }
    }

    /** @return whether {@code ctx} held Spark's default (or no) configuration and now holds Megalith's */
    static boolean replaceSparkDefault(LoggerContext ctx) {
        if (!isSparkDefault(ctx.getConfiguration())) {
            return false;
        }
        URL ours = SubmitLogging.class.getResource(CONFIG);
        if (ours == null) {
            return false;
        }
        try {
            ctx.setConfigLocation(ours.toURI());
        } catch (URISyntaxException e) {
            return false;
        }
        return true;
    }

    /** Spark's {@code log4j2-defaults.properties} (or its JSON variant), or log4j's own unconfigured default. */
    static boolean isSparkDefault(Configuration c) {
        if (c instanceof DefaultConfiguration) {
            return true;
        }
        String location = c.getConfigurationSource() == null ? null : c.getConfigurationSource().getLocation();
        return location != null && location.replace('\\', '/').matches(".*org/apache/spark/log4j2-[a-z-]+\\.properties");
    }
}
