package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.train.report.MetricsLog;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver's progress after a failed attempt: attempt 1 evaluated at steps 0, 10 and 20 and died at step 25; the
 * last checkpoint is step 10, so attempt 2 rewrites metrics.jsonl (through the ranks' own {@link MetricsLog}) keeping
 * steps 0-9 and trains 10-30 again. Only attempt 2's evaluations may be printed, each once.
 */
class MetricsFollowerTest {
    @TempDir
    Path tmp;

    private static Map<String, Object> step(long step, double loss, Double valLoss) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("step", step);
        r.put("loss", loss);
        r.put("tokens_per_sec", 1000.0 + step);
        if (valLoss != null) {
            r.put("val_loss", valLoss);
        }
        return r;
    }

    /** Attempt 1's val losses are 1.xxxx, attempt 2's 2.xxxx: which attempt a printed line is from is visible. */
    private static void attempt(MetricsLog log, int attempt, long from, long to) throws IOException {
        for (long s = from; s < to; s++) {
            log.write(step(s, attempt + s / 1000.0, s % 10 == 0 ? attempt + s / 100.0 : null));
        }
    }

    @Test
    void aResumedAttemptDoesNotReplayTheFailedAttemptsEvaluations() throws Exception {
        String run = tmp.resolve("run").toString();
        Configuration conf = new Configuration();
        try (MetricsLog first = new MetricsLog(run, conf)) {
            attempt(first, 1, 0, 26);
        }
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(console, true, StandardCharsets.UTF_8);
        try (MetricsFollower follower = new MetricsFollower(run, conf, "test", 10, 31, out)) {
            follower.poll(); // before the ranks start: the file is still attempt 1's
            try (MetricsLog second = MetricsLog.openForResume(run, conf, 10)) {
                follower.poll(); // rewritten to steps 0-9, nothing new yet
                attempt(second, 2, 10, 21);
                // the file (10 kept + 11 new lines) is now shorter than attempt 1's 26 lines...
                follower.poll();
                attempt(second, 2, 21, 31);
                // ... and now longer: a follower counting lines would skip or repeat some here
                follower.poll();
            }
        }
        String printed = console.toString(StandardCharsets.UTF_8);
        Matcher evals = Pattern.compile("step (\\d+): train loss [0-9.]+, val loss ([0-9.]+)").matcher(printed);
        StringBuilder seen = new StringBuilder();
        while (evals.find()) {
            seen.append(evals.group(1)).append('=').append(evals.group(2)).append(' ');
        }
        assertThat(seen.toString().trim()).isEqualTo("10=2.1000 20=2.2000 30=2.3000");
    }

    @Test
    void aNewAttemptsFirstPollOnAFinishedRunPrintsNothingOld() throws Exception {
        String run = tmp.resolve("done").toString();
        Configuration conf = new Configuration();
        try (MetricsLog first = new MetricsLog(run, conf)) {
            attempt(first, 1, 0, 31);
        }
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (MetricsFollower follower = new MetricsFollower(run, conf, "test", 30, 31,
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            follower.poll();
        }
        assertThat(console.toString(StandardCharsets.UTF_8)).doesNotContain("val loss");
    }
}
