package io.megalith.launcher.train;

import io.megalith.core.train.report.MetricsLog;
import io.megalith.core.train.report.TrainingProgress;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * The driver's view of a running job: follows {@code <run.dir>/metrics.jsonl}, which rank 0 writes
 * once per step, and drives a progress bar (step, loss, tokens/s, ETA) and the evaluation lines. Works
 * the same for a local directory and HDFS, for local[N] and a cluster.
 */
final class MetricsFollower implements AutoCloseable {
    private final String runDir;
    private final Configuration hadoop;
    private final TrainingProgress progress;
    private final Thread thread;
    private volatile boolean running = true;
    private int seen;

    MetricsFollower(String runDir, Configuration hadoop, String name, long startStep, long maxSteps, PrintStream out) {
        this.runDir = runDir;
        this.hadoop = hadoop;
        this.progress = new TrainingProgress(name, startStep, maxSteps, out);
        this.thread = new Thread(this::follow, "megalith-metrics-follower");
        thread.setDaemon(true);
        thread.start();
    }

    private void follow() {
        while (running) {
            poll();
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private synchronized void poll() {
        List<Map<String, Object>> records;
        try {
            records = MetricsLog.read(runDir, hadoop);
        } catch (Exception e) {
            return; // not written yet, or being rewritten on resume: try again on the next poll
        }
        if (records.size() < seen) {
            seen = 0; // rewritten by a resumed attempt
        }
        for (int i = seen; i < records.size(); i++) {
            Map<String, Object> r = records.get(i);
            long step = ((Number) r.get("step")).longValue();
            if (r.containsKey("loss")) {
                progress.update(step, num(r, "loss"), num(r, "tokens_per_sec"));
            }
            if (r.containsKey("val_loss")) {
                String line = String.format("step %d: %sval loss %.4f", step,
                        r.containsKey("loss") ? String.format("train loss %.4f, ", num(r, "loss")) : "", num(r, "val_loss"));
                if (r.containsKey("accuracy")) {
                    line += String.format(", accuracy %.1f%% (majority class %.1f%%)", num(r, "accuracy") * 100,
                            num(r, "majority_baseline") * 100);
                }
                if (r.containsKey("exact_match")) {
                    line += String.format(", exact match %.1f%%", num(r, "exact_match") * 100);
                }
                if (r.containsKey("mlm_accuracy")) { // a BERT run's masked-LM evaluation
                    line += String.format(", masked-LM accuracy %.1f%%", num(r, "mlm_accuracy") * 100);
                }
                progress.message(line);
            }
        }
        seen = records.size();
    }

    private static double num(Map<String, Object> r, String key) {
        Object v = r.get(key);
        return v instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        poll(); // the last lines
        progress.close();
    }
}
