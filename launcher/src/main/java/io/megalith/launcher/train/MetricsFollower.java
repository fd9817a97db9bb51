package io.megalith.launcher.train;

import io.megalith.core.train.report.MetricsLog;
import io.megalith.core.train.report.TrainingProgress;
import java.io.PrintStream;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
    /**
     * The lines already in metrics.jsonl when this attempt started: a failed attempt's, or an earlier run's. They were
     * shown when they were written; a resumed attempt rewrites the file keeping some of them (byte for byte) and
     * dropping the rest, so they are recognized by content, not by position.
     */
    private final Set<Map<String, Object>> before;
    /** How many of this attempt's records have been shown. */
    private int shown;

    MetricsFollower(String runDir, Configuration hadoop, String name, long startStep, long maxSteps, PrintStream out) {
        this.runDir = runDir;
        this.hadoop = hadoop;
        this.before = new HashSet<>(readOrEmpty());
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

    private List<Map<String, Object>> readOrEmpty() {
        try {
            return MetricsLog.read(runDir, hadoop);
        } catch (Exception e) {
            return List.of();
        }
    }

    synchronized void poll() {
        List<Map<String, Object>> records;
        try {
            records = MetricsLog.read(runDir, hadoop);
        } catch (Exception e) {
            return; // not written yet, or being rewritten on resume: try again on the next poll
        }
        // A line of this attempt equal to an earlier one in every field (timings included) would be a repeat anyway.
        List<Map<String, Object>> fresh = records.stream().filter(r -> !before.contains(r)).toList();
        for (int i = shown; i < fresh.size(); i++) {
            Map<String, Object> r = fresh.get(i);
            if (!(r.get("step") instanceof Number n)) {
                continue; // not a step's line
            }
            long step = n.longValue();
            if (r.containsKey("loss")) {
                progress.update(step, num(r, "loss"), num(r, "tokens_per_sec"));
            }
            if (r.containsKey("val_loss")) {
                String line = String.format("step %d: %sval loss %.4f", step,
                        r.containsKey("loss") ? String.format("train loss %.4f, ", num(r, "loss")) : "", num(r, "val_loss"));
                if (r.containsKey("accuracy")) { // a classifier's; BERT's records also carry the majority baseline
                    line += String.format(", accuracy %.1f%%", num(r, "accuracy") * 100);
                    if (r.containsKey("majority_baseline")) {
                        line += String.format(" (majority class %.1f%%)", num(r, "majority_baseline") * 100);
                    }
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
        shown = Math.max(shown, fresh.size());
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
