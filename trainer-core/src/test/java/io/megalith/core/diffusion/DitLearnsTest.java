package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A tiny DiT learns the two-class "lit half" 8x8 images on one rank in 120 steps: its loss falls over training, and
 * guided DDIM samples of class 0 are bright on the left, of class 1 on the right (a check an untrained or label-blind
 * model fails: it would give flat noise, or the same side for both classes). v-prediction on the cosine schedule: with
 * epsilon-prediction on so few steps the model has not yet learnt the high-noise steps (where the label matters and
 * 1/sqrt(abar) amplifies any error) and its samples come out blurred.
 */
class DitLearnsTest {
    static final int STEPS = 120;

    @Test
    void lossFallsAndGuidedSamplesLightTheirClassSide() {
        DitConfig dit = new DitConfig(1, DitRuns.SIDE, DitRuns.SIDE, 2, 2, 4, 32, 2, 32);
        DiffusionConfig diffusion = new DiffusionConfig(100, "cosine", Prediction.V, 0.15, 20, 0, 3, 1.5, 0.9);
        List<Double> losses = new ArrayList<>();
        float[][] samples = new float[1][];
        int perClass = 8;
        long[] labels = new long[2 * perClass];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i / perClass;
        }
        DitRuns.train(DitRuns.config("{max_steps: " + STEPS + ", batch_size: 32, grad_accum: 1, lr: 3.0e-3, "
                        + "warmup_steps: 10, min_lr: 3.0e-4, weight_decay: 0.0}"),
                dit, diffusion, new SingleRankCommunicator(), new SingleRankCommunicator(), null, STEPS,
                (step, loss, trainer, store, model) -> {
                    losses.add(loss);
                    if (step == STEPS - 1) {
                        try (NDManager m = Torch.newManager()) {
                            Sampler sampler = diffusion.sampler(new DitDenoiser(model, m), dit.nullClass(),
                                    DitRuns.SIDE * DitRuns.SIDE);
                            samples[0] = sampler.ddim(labels, diffusion.samplingSteps(), diffusion.eta(),
                                    diffusion.guidanceScale(), 5, 0);
                        }
                    }
                });
        double first = mean(losses.subList(0, 10));
        double last = mean(losses.subList(STEPS - 10, STEPS));
        assertThat(last).as("mean loss of the last 10 steps vs the first 10").isLessThan(0.6 * first);
        int side = DitRuns.SIDE;
        for (int i = 0; i < labels.length; i++) {
            double left = 0;
            double right = 0;
            for (int y = 0; y < side; y++) {
                for (int x = 0; x < side; x++) {
                    double v = samples[0][i * side * side + y * side + x];
                    if (x < side / 2) {
                        left += v;
                    } else {
                        right += v;
                    }
                }
            }
            double contrast = (left - right) / (side * side / 2.0); // about +2 for class 0, -2 for class 1
            System.out.printf("sample %d (class %d): left - right %.3f%n", i, labels[i], contrast);
            if (labels[i] == 0) {
                assertThat(contrast).as("sample %d of class 0: left brighter", i).isGreaterThan(0.5);
            } else {
                assertThat(contrast).as("sample %d of class 1: right brighter", i).isLessThan(-0.5);
            }
        }
        System.out.printf("loss %.4f -> %.4f%n", first, last);
    }

    static double mean(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }
}
