package io.megalith.core.train.report;

/** How a training run shows its steps on the console: a progress bar, or a line every few steps. */
public interface StepReport extends AutoCloseable {
    /** Step {@code step} is done with train loss {@code loss} at {@code tokensPerSec}. */
    void update(long step, double loss, double tokensPerSec);

    /** Prints {@code line} (e.g. an evaluation) on a line of its own. */
    void message(String line);

    @Override
    void close();
}
