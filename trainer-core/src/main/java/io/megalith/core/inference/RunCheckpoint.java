package io.megalith.core.inference;

/**
 * Which checkpoint of a run to load: the latest complete one (step null), or the one of a given step (refused if it
 * is missing or incomplete, never replaced by another).
 */
public record RunCheckpoint(String runDir, Long step) {
    public static RunCheckpoint latest(String runDir) {
        return new RunCheckpoint(runDir, null);
    }

    /** {@code runDir}, or {@code runDir (step N)}: for messages. */
    @Override
    public String toString() {
        return step == null ? runDir : runDir + " (step " + step + ")";
    }
}
