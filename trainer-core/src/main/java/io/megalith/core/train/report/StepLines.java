package io.megalith.core.train.report;

import java.io.PrintStream;

/** Steps as console lines: "step N: loss L" every {@code logEvery} steps and at the last, on the leader only. */
public final class StepLines implements StepReport {
    private final PrintStream console;
    private final boolean leader;
    private final int logEvery;
    private final long maxSteps;

    public StepLines(PrintStream console, boolean leader, int logEvery, long maxSteps) {
        this.console = console;
        this.leader = leader;
        this.logEvery = logEvery;
        this.maxSteps = maxSteps;
    }

    @Override
    public void update(long step, double loss, double tokensPerSec) {
        if (leader && (step % logEvery == 0 || step == maxSteps)) {
            console.printf("step %d: loss %.4f%n", step, loss);
        }
    }

    @Override
    public void message(String line) {
        if (leader) {
            console.println(line);
        }
    }

    @Override
    public void close() {}
}
