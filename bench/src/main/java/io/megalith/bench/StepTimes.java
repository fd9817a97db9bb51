package io.megalith.bench;

import io.megalith.core.train.Trainer;
import java.util.Arrays;

/** Wall times of a trainer's steps after warm-up, sorted: the step-time benches report their median, min and max. */
record StepTimes(double[] sortedMs) {
    /** Steps 0 and 1 warm up (libtorch's first passes allocate and pick kernels); steps 2 .. steps + 1 are timed. */
    static StepTimes of(Trainer trainer, int steps) {
        double[] ms = new double[steps];
        for (int i = 0; i < steps + 2; i++) {
            long t0 = System.nanoTime();
            trainer.step(i);
            if (i >= 2) {
                ms[i - 2] = (System.nanoTime() - t0) / 1e6;
            }
        }
        Arrays.sort(ms);
        return new StepTimes(ms);
    }

    double median() {
        return sortedMs[sortedMs.length / 2];
    }

    double min() {
        return sortedMs[0];
    }

    double max() {
        return sortedMs[sortedMs.length - 1];
    }
}
