package io.megalith.core.train;

import java.io.IOException;

/**
 * What one rank runs for {@code megalith train}, whichever model family trains: {@link TrainingRun} (the GPT) or
 * {@link FamilyTrainingRun}. A family's {@code ModelFamily.newRun} builds it, so launchers never choose by name.
 */
public interface RankRun extends AutoCloseable {
    /** Trains to train.max_steps (resuming from the newest complete checkpoint) and summarises the run. */
    TrainingRun.Summary run() throws IOException;

    /** Called after every completed step (before it is logged and checkpointed), e.g. to inject faults in tests. */
    void onStep(TrainingRun.StepListener listener);

    @Override
    void close() throws IOException;
}
