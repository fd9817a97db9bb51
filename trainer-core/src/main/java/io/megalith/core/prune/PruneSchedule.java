package io.megalith.core.prune;

import io.megalith.core.config.MegalithConfig;

/**
 * When masks are cut and to what sparsity: Zhu and Gupta's cubic schedule from 0 at {@code start} to the final
 * sparsity s_f at {@code end}, masks recut every {@code every} steps (their delta t) and at {@code end}:
 * <pre>
 *   s(t) = s_f (1 - (1 - (t - start) / (end - start))^3)      start <= t <= end; s_f after end
 * </pre>
 * Pruning fast while the network is redundant and slowly near the end, so the last cuts have time to heal. Steps are
 * counts of completed optimizer steps.
 */
public record PruneSchedule(double sparsity, long start, long end, long every) {
    public PruneSchedule {
        if (end <= start || every < 1 || sparsity < 0 || sparsity >= 1) {
            throw new IllegalArgumentException("prune schedule to " + sparsity + " from step " + start + " to " + end
                    + " every " + every);
        }
    }

    /** The run's schedule (prune section, train.max_steps). */
    public static PruneSchedule of(MegalithConfig.Prune p, long maxSteps) {
        return new PruneSchedule(p.sparsity(), p.startStep(), p.end(maxSteps), p.every());
    }

    /** The target sparsity after {@code step} completed steps. */
    public double at(long step) {
        if (step <= start) {
            return 0;
        }
        double progress = Math.min(1, (double) (step - start) / (end - start));
        double left = 1 - progress;
        return sparsity * (1 - left * left * left);
    }

    /** Whether the masks are recut after {@code step} completed steps: every {@code every} after start, and at end. */
    public boolean cutsAt(long step) {
        return step > start && step <= end && ((step - start) % every == 0 || step == end);
    }
}
