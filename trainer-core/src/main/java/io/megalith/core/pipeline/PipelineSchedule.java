package io.megalith.core.pipeline;

import java.util.ArrayList;
import java.util.List;

/**
 * The order in which a pipeline stage runs the forward (F) and backward (B) passes of a step's m
 * micro-batches. Non-interleaved schedules have the same bubble, (p-1)/(m+p-1) of the step; they differ
 * in how many micro-batches' activations a stage holds at once: GPipe all m, 1F1B at most p - stage.
 */
public final class PipelineSchedule {
    /** One action: the forward or backward pass of micro-batch {@code microBatch}. */
    public record Action(boolean forward, int microBatch) {
        @Override
        public String toString() {
            return (forward ? "F" : "B") + microBatch;
        }
    }

    public static final List<String> NAMES = List.of("1f1b", "gpipe");

    private PipelineSchedule() {}

    /** GPipe: all forwards, then all backwards. */
    public static List<Action> gpipe(int microBatches) {
        List<Action> out = new ArrayList<>();
        for (int m = 0; m < microBatches; m++) {
            out.add(new Action(true, m));
        }
        for (int m = 0; m < microBatches; m++) {
            out.add(new Action(false, m));
        }
        return out;
    }

    /**
     * 1F1B (PipeDream-Flush, Megatron's default): min(p - stage - 1, m) warm-up forwards, then one forward
     * and one backward alternately, then the remaining backwards.
     */
    public static List<Action> oneForwardOneBackward(int microBatches, int stage, int stages) {
        int warmup = Math.min(stages - stage - 1, microBatches);
        List<Action> out = new ArrayList<>();
        int f = 0;
        int b = 0;
        for (; f < warmup; f++) {
            out.add(new Action(true, f));
        }
        while (f < microBatches) {
            out.add(new Action(true, f++));
            out.add(new Action(false, b++));
        }
        while (b < microBatches) {
            out.add(new Action(false, b++));
        }
        return out;
    }

    public static List<Action> of(String name, int microBatches, int stage, int stages) {
        return switch (name) {
            case "gpipe" -> gpipe(microBatches);
            case "1f1b" -> oneForwardOneBackward(microBatches, stage, stages);
            default -> throw new IllegalArgumentException("unknown pipeline schedule " + name + "; one of " + NAMES);
        };
    }

    /** The idle fraction of a step for p stages and m micro-batches of equal cost: (p-1)/(m+p-1). */
    public static double bubble(int stages, int microBatches) {
        return (stages - 1.0) / (microBatches + stages - 1.0);
    }
}
