package io.megalith.launcher.spark;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.Utils;

/**
 * The embedded Spark that {@code megalith} uses when it is not spark-submitted: a {@link SparkSession} on
 * {@code local[N]} in this JVM, with N the world size, so that each rank is one task thread. Start it once per
 * process (one SparkContext per JVM) and close it at the end; starting takes a few seconds.
 */
public final class LocalSpark implements AutoCloseable {
    private final SparkSession session;

    private LocalSpark(SparkSession session) {
        this.session = session;
    }

    /** A local Spark with {@code slots} task slots and the defaults of {@link Builder}. */
    public static LocalSpark start(int slots) {
        return builder(slots).start();
    }

    /** Settings for a local Spark with {@code slots} task slots (the world size it can run). */
    public static Builder builder(int slots) {
        return new Builder(slots);
    }

    /** The session; {@code session().sparkContext()} is Spark's context. */
    public SparkSession session() {
        return session;
    }

    /** The Java view of the session's context, as {@link BarrierJob#run(JavaSparkContext, String, int, RankTask)} takes it. */
    public JavaSparkContext context() {
        return JavaSparkContext.fromSparkContext(session.sparkContext());
    }

    /** Stops Spark; its threads and ports are gone when this returns. */
    @Override
    public void close() {
        session.stop();
    }

    /** How the local Spark is set up; every setting has a default suited to running ranks. */
    public static final class Builder {
        private final int slots;
        private String appName = "megalith";
        private boolean ui;
        private Duration rendezvousTimeout = Duration.ofMinutes(10);
        private final Map<String, String> extra = new LinkedHashMap<>();

        private Builder(int slots) {
            if (slots < 1) {
                throw new IllegalArgumentException("a local Spark needs at least 1 slot, not " + slots);
            }
            this.slots = slots;
        }

        /** The application's name in Spark's UI and logs (default {@code megalith}). */
        public Builder appName(String name) {
            this.appName = name;
            return this;
        }

        /**
         * Whether to serve Spark's web UI on port 4040 or the next free one (default off). Spark binds it on every
         * interface unless the environment variable {@code SPARK_LOCAL_IP} names one.
         */
        public Builder ui(boolean enabled) {
            this.ui = enabled;
            return this;
        }

        /**
         * How long a rank waits in the rendezvous for the others ({@code spark.barrier.sync.timeout}; Spark's
         * default is a year). A rank that dies fails the stage at once; this bounds a rank that hangs.
         */
        public Builder rendezvousTimeout(Duration timeout) {
            this.rendezvousTimeout = timeout;
            return this;
        }

        /** Any other Spark setting; it overrides the defaults here. */
        public Builder conf(String key, String value) {
            extra.put(key, value);
            return this;
        }

        /** Starts Spark. */
        public LocalSpark start() {
            String master = "local[" + slots + "]";
            if (SparkSession.getDefaultSession().isDefined() || SparkSession.getActiveSession().isDefined()) {
                // getOrCreate() would silently return it, with its own master and settings
                throw new IllegalStateException("a SparkSession is already running in this JVM; close it first");
            }
            // Spark names its local executor by the machine's first non-loopback address and warns that the
            // hostname resolves to loopback; everything of a local Spark stays on 127.0.0.1. This is what the
            // environment variable SPARK_LOCAL_HOSTNAME=127.0.0.1 does, for this JVM's Spark
            Utils.setCustomHostname("127.0.0.1");
            SparkSession.Builder b = SparkSession.builder()
                    // local[N] fails a task set at its first task failure: a failed rank fails the job at once,
                    // and Megalith (not Spark) decides whether to restart it from a checkpoint
                    .master(master)
                    .appName(appName)
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.ui.enabled", ui)
                    // Megalith prints its own progress; Spark's console bar would interleave with it
                    .config("spark.ui.showConsoleProgress", false)
                    .config("spark.barrier.sync.timeout", rendezvousTimeout.toSeconds() + "s")
                    // the slot count of local[N] never changes: should Spark's own barrier slot check ever fail
                    // (BarrierJob checks first), it gives up after one retry a second later, not 40 x 15 s
                    .config("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", 1)
                    .config("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
                    .config("spark.sql.shuffle.partitions", slots)
                    .config("spark.log.level", "WARN");
            extra.forEach(b::config);
            SparkSession session = b.getOrCreate();
            return new LocalSpark(session);
        }
    }
}
