package io.megalith.launcher.train;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.train.BaseRun;
import io.megalith.core.train.TrainingRun;
import io.megalith.launcher.data.DataPreparation;
import io.megalith.launcher.data.ImagePreparation;
import io.megalith.launcher.spark.BarrierJob;
import io.megalith.launcher.spark.BarrierJobException;
import io.megalith.launcher.spark.LocalSpark;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a training job as one Spark barrier stage with a task per rank: on an embedded
 * {@code local[world size]} by default, or on the cluster of the spark-submit that started us. If any
 * rank fails (exception, lost executor, peer timeout), Spark fails the whole stage; the job is then
 * submitted again, up to {@code launch.max_attempts} times, each attempt resuming from the last
 * complete checkpoint in run.dir. A rank that fails on its input ({@link InvalidInputException}: data or base) ends
 * the job at once: every attempt would read the same input.
 */
public final class DistributedTraining {
    private static final Logger LOG = LoggerFactory.getLogger(DistributedTraining.class);

    private DistributedTraining() {}

    public static TrainingRun.Summary run(MegalithConfig cfg, PrintStream out) throws IOException {
        int world = cfg.parallel().worldSize();
        boolean submitted = System.getProperty("spark.master") != null;
        String name = cfg.run().name();
        Configuration hadoop = new Configuration();
        LocalSpark local = submitted ? null
                : LocalSpark.builder(world).appName("megalith train " + name).ui(cfg.launch().sparkUi()).start();
        SparkSession spark = submitted ? SparkSession.builder().appName("megalith train " + name).getOrCreate()
                : local.session();
        try {
            // ranks of local[N] share this machine's cores; on a cluster 0 means spark.task.cpus
            int threadsPerRank = cfg.runtime().threads() > 0 || submitted ? cfg.runtime().threads()
                    : Math.max(1, Runtime.getRuntime().availableProcessors() / world);
            out.printf("megalith: %s: %d rank(s) (dp %d x tp %d x pp %d) as one Spark barrier stage on %s%n", name, world,
                    cfg.parallel().dp(), cfg.parallel().tp(), cfg.parallel().pp(), spark.sparkContext().master());
            String yaml = ConfigLoader.toYaml(cfg);
            // text is tokenized once, by Spark, into shards the ranks read (reused while the input is unchanged); a
            // fine-tune of a run (or of weights with checkpoint.init_tokenizer) must keep the base's token ids, so its
            // ranks tokenize with the base's tokenizer (a distilled student: with its teacher's)
            boolean fromRun = BaseRun.isRun(cfg.checkpoint().initFrom(), hadoop)
                    || !cfg.checkpoint().initTokenizer().isEmpty() || cfg.distill().active();
            String prepared = "text".equals(cfg.data().task()) && !fromRun ? DataPreparation.prepare(cfg, spark)
                    : cfg.images() || cfg.captions() ? ImagePreparation.prepare(cfg, spark) : null;
            FaultInjection failure = FaultInjection.fromSystemProperty();
            int attempts = cfg.launch().maxAttempts();
            for (int attempt = 1; ; attempt++) {
                long start = latestStep(cfg, hadoop);
                if (attempt > 1) {
                    out.printf("megalith: attempt %d of %d, resuming from step %d%n", attempt, attempts, start);
                }
                TrainRankTask task = new TrainRankTask(yaml, attempt, threadsPerRank, failure, prepared);
                try (MetricsFollower follower = new MetricsFollower(cfg.run().dir(), hadoop, name, start,
                        cfg.train().maxSteps(), out)) {
                    List<TrainingRun.Summary> results = BarrierJob.run(spark, "train " + name, world, task);
                    return results.get(0);
                } catch (BarrierJobException e) {
                    LOG.warn("attempt {} of {} failed: {}", attempt, attempts, e.getMessage());
                    InvalidInputException input = invalidInput(e);
                    if (input != null) { // the same input would fail the same way: no retry
                        out.printf("megalith: attempt %d of %d failed on its input, which a retry cannot fix%n", attempt,
                                attempts);
                        throw input;
                    }
                    out.printf("megalith: attempt %d of %d failed: %s%n", attempt, attempts, e.getMessage());
                    if (attempt >= attempts) {
                        throw e;
                    }
                }
            }
        } finally {
            if (local != null) {
                local.close();
            } else {
                spark.stop();
            }
        }
    }

    /**
     * The {@link InvalidInputException} a rank failed with, or null when the failure was of a rank or an executor.
     * Spark passes the task's exception on as the failure's cause when it can deserialize it; its message always
     * carries the exception's class name and message, which is the fallback.
     */
    static InvalidInputException invalidInput(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof InvalidInputException i) {
                return i;
            }
        }
        String marker = InvalidInputException.class.getName() + ": ";
        String m = String.valueOf(failure.getMessage());
        int at = m.indexOf(marker);
        if (at < 0) {
            return null;
        }
        String rest = m.substring(at + marker.length());
        int end = rest.indexOf("\n");
        return new InvalidInputException((end < 0 ? rest : rest.substring(0, end)).strip(), failure);
    }

    private static long latestStep(MegalithConfig cfg, Configuration hadoop) throws IOException {
        List<Long> steps = new CheckpointStore(cfg.run().dir(), hadoop, 0).completeSteps();
        return steps.isEmpty() ? 0 : steps.get(steps.size() - 1);
    }
}
