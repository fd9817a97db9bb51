package io.megalith.core.train.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class TrainingProgressTest {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    private String output() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void withoutAConsoleTenThousandUpdatesStayAFewLines() {
        assertThat(System.console()).as("surefire runs tests without a console").isNull();
        try (TrainingProgress progress = new TrainingProgress("train", 0, 10_000, out)) {
            for (int step = 1; step <= 10_000; step++) {
                progress.update(step, 10.0 / step, 12_345);
            }
        }

        String text = output();
        assertThat(text.length()).isLessThan(5 * TrainingProgress.PLAIN_WIDTH);
        assertThat(text).doesNotContain("\r").doesNotContain("\033[");
        List<String> lines = text.lines().toList();
        assertThat(lines.get(lines.size() - 1))
                .startsWith("train 100%")
                .contains("10000/10000")
                .contains("loss 0.0010 | 12.3k tok/s");
        assertThat(lines).as("no line printed twice in a row").doesNotHaveDuplicates();
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void updatesAreThrottledEvenOverSeveralRedrawIntervals(boolean terminal) throws InterruptedException {
        // 2.5 s of updates spans at least two terminal redraws, but must not write one bar per update.
        long until = System.nanoTime() + 2_500_000_000L;
        int updates = 0;
        try (TrainingProgress progress = new TrainingProgress("train", 100, 1_000_000, out, terminal)) {
            while (System.nanoTime() < until) {
                progress.update(100 + ++updates, 2.0, 950);
                if (updates % 1000 == 0) {
                    Thread.sleep(1);
                }
            }
        }

        assertThat(updates).isGreaterThan(10_000);
        int redraws = output().split(terminal ? "\r" : "\n", -1).length - 1;
        assertThat(redraws).isBetween(terminal ? 2 : 1, terminal ? 6 : 3);
        assertThat(output().length()).isLessThan(8 * 200);
        assertThat(output()).contains("950 tok/s");
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void messagesGetWholeLinesOfTheirOwn(boolean terminal) {
        try (TrainingProgress progress = new TrainingProgress("train", 0, 100, out, terminal)) {
            progress.update(10, 3.0, 1_000);
            progress.message("eval step 10: val_loss 2.9000");
            progress.update(20, 2.5, 1_000);
            progress.message("eval step 20: val_loss 2.4000");
        }

        // Split at '\n' only (String.lines() would split at '\r' too); on a terminal, a line may start by
        // erasing the bar drawn before it.
        List<String> lines = Stream.of(output().split("\n")).map(l -> l.replace("\r\033[K", "")).toList();
        assertThat(lines).contains("eval step 10: val_loss 2.9000", "eval step 20: val_loss 2.4000");
        assertThat(lines.get(lines.size() - 1)).contains("20/100").contains("loss 2.5000 | 1.0k tok/s");
    }

    @ParameterizedTest
    @CsvSource({
        "0, 0 tok/s",
        "950, 950 tok/s",
        "999.4, 999 tok/s",
        "999.7, 1.0k tok/s",
        "12345, 12.3k tok/s",
        "999949, 999.9k tok/s",
        "999950, 1.0M tok/s",
        "2500000, 2.5M tok/s",
        "NaN, ? tok/s",
        "-1, ? tok/s",
    })
    void formatsTokensPerSecond(double tokensPerSec, String expected) {
        assertThat(TrainingProgress.formatTokensPerSec(tokensPerSec)).isEqualTo(expected);
    }
}
