package io.megalith.core.train.report;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A console progress bar for a training run: position, percentage, ETA and a "loss 1.2345 | 12.3k tok/s" message,
 * drawn by me.tongfei.progressbar.
 *
 * <p>On a terminal the bar is redrawn in place every second. Otherwise (a log file, CI) each redraw is a line of
 * its own, written every 30 seconds at most, so a long run yields a readable log rather than megabytes of bars.
 * Either way the bar is redrawn on a timer, not on {@link #update}, so updating every step costs nothing.
 */
public final class TrainingProgress implements StepReport {
    static final int TERMINAL_INTERVAL_MS = 1_000;
    static final int PLAIN_INTERVAL_MS = 30_000;
    /** Line width when there is no terminal to ask. */
    static final int PLAIN_WIDTH = 120;

    private final BarConsumer consumer;
    private final ProgressBar bar;

    /**
     * Starts the bar at {@code startStep} (a resumed run; the ETA counts only steps made from here) out of
     * {@code maxSteps}. It is drawn on {@code out} in place if the JVM has a console, line by line otherwise.
     */
    public TrainingProgress(String taskName, long startStep, long maxSteps, PrintStream out) {
        this(taskName, startStep, maxSteps, out, System.console() != null);
    }

    TrainingProgress(String taskName, long startStep, long maxSteps, PrintStream out, boolean terminal) {
        consumer = new BarConsumer(out, terminal);
        bar = new ProgressBarBuilder()
                .setTaskName(taskName)
                .setInitialMax(maxSteps)
                .startsFrom(startStep, Duration.ZERO)
                // Colours and block characters only where a terminal renders them; plain ASCII in logs.
                .setStyle(terminal ? ProgressBarStyle.COLORFUL_UNICODE_BLOCK : ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(terminal ? TERMINAL_INTERVAL_MS : PLAIN_INTERVAL_MS)
                .setConsumer(consumer)
                .build();
    }

    /** Moves the bar to {@code step} and sets its message; shown at the next redraw. */
    @Override
    public void update(long step, double loss, double tokensPerSec) {
        bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f | %s", loss, formatTokensPerSec(tokensPerSec)));
        bar.stepTo(step);
    }

    /** Prints {@code line} (e.g. eval results) on a line of its own, above the bar on a terminal. */
    @Override
    public void message(String line) {
        consumer.printLine(line);
    }

    /** Draws the bar a last time and ends its line. */
    @Override
    public void close() {
        bar.close();
        // ProgressBar skips closing its consumer if closed before its first redraw; closing twice is harmless.
        consumer.close();
    }

    /** Formats a throughput compactly: "950 tok/s", "12.3k tok/s", "1.2M tok/s"; "? tok/s" if unknown. */
    public static String formatTokensPerSec(double tokensPerSec) {
        if (!Double.isFinite(tokensPerSec) || tokensPerSec < 0) {
            return "? tok/s";
        }
        // Thresholds at the rounding boundary, so 999.7 becomes "1.0k", not "1000".
        if (tokensPerSec < 999.5) {
            return String.format(Locale.ROOT, "%.0f tok/s", tokensPerSec);
        }
        if (tokensPerSec < 999_950) {
            return String.format(Locale.ROOT, "%.1fk tok/s", tokensPerSec / 1e3);
        }
        return String.format(Locale.ROOT, "%.1fM tok/s", tokensPerSec / 1e6);
    }

    /**
     * Writes the bar and interleaves whole lines with it. Methods are synchronized because the bar is drawn from
     * progressbar's timer thread while messages come from the training thread.
     */
    private static final class BarConsumer extends ConsoleProgressBarConsumer {
        /** Carriage return, then ANSI "erase to end of line": clears the bar even where escapes make it "longer". */
        private static final String CLEAR_LINE = "\r\033[K";

        private final PrintStream out;
        private final boolean terminal;
        private String lastBar = "";
        private boolean closed;

        BarConsumer(PrintStream out, boolean terminal) {
            // -1 asks the terminal for its width at every redraw, so resizing works.
            super(out, terminal ? -1 : PLAIN_WIDTH);
            this.out = out;
            this.terminal = terminal;
        }

        @Override
        public synchronized void accept(String rendered) {
            // in a log, the final redraw at close() often repeats the timer's last one word for word
            if (closed || (!terminal && rendered.equals(lastBar))) {
                return;
            }
            lastBar = rendered;
            if (terminal) {
                out.print(CLEAR_LINE + rendered);
            } else {
                out.println(rendered);
            }
            out.flush();
        }

        synchronized void printLine(String line) {
            if (terminal && !closed) {
                out.print(CLEAR_LINE);
                out.println(line);
                out.print(lastBar); // redrawn at once rather than at the next tick
            } else {
                out.println(line);
            }
            out.flush();
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                if (terminal) {
                    out.println();
                }
                out.flush();
            }
        }
    }
}
