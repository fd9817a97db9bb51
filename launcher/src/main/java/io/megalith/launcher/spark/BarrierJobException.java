package io.megalith.launcher.spark;

import java.io.Serial;

/**
 * A {@link BarrierJob} failed after it was submitted: a rank threw, an executor was lost, or the stage was
 * cancelled. The message names the job and carries Spark's reason (the failed task's exception, without its
 * stack trace, which stays in the cause). Restarting from the last checkpoint is the caller's decision.
 */
public final class BarrierJobException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;
    private final String jobName;

    BarrierJobException(String jobName, int ranks, Throwable sparkFailure) {
        super("megalith: job '" + jobName + "' (" + ranks + " ranks) failed: " + reason(sparkFailure), sparkFailure);
        this.jobName = jobName;
    }

    /** The name the job was run under. */
    public String jobName() {
        return jobName;
    }

    /** Spark's message up to the first stack frame: "Job aborted due to stage failure: ... Lost task 1.0 ...: X: msg". */
    private static String reason(Throwable t) {
        String m = String.valueOf(t.getMessage());
        int stack = m.indexOf("\n\tat ");
        return (stack < 0 ? m : m.substring(0, stack)).strip();
    }
}
