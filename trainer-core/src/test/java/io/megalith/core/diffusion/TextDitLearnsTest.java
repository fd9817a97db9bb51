package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.DitPlan;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A tiny text-conditioned DiT learns in 600 steps the "lit half" images from captions that only their word order
 * tells apart: "A B" lights the left half, "B A" the right (token states = word vector + position vector, as a text
 * encoder's carry both, then a padded key of garbage; the same sum over keys for both captions). Its loss falls, and
 * guided DDIM samples of each caption light its side: the cross-attention reads the caption token by token, padding
 * masked (a bag of words could not tell the two apart; at 150 steps a quarter of its samples took the wrong side).
 */
class TextDitLearnsTest {
    static final int STEPS = 600;
    static final int TEXT = 16;
    static final int TK = 3;
    static final DitConfig DIT = new DitConfig(1, DitRuns.SIDE, DitRuns.SIDE, 2, 2, 4, 32, 0, 32, TEXT);

    /** Vector i of a fixed table (words 0, 1; positions 2, 3; garbage 4+). */
    static double vector(int i, int j) {
        return CounterRng.normal(CounterRng.key(5, "vectors"), (long) i * TEXT + j);
    }

    /** Captions of rows with the given classes: class 0 "A B", class 1 "B A", then one padded key. */
    static Conditioning.Text captions(int[] classes, boolean[] dropped) {
        int n = classes.length;
        float[] states = new float[n * TK * TEXT];
        boolean[] mask = new boolean[n * TK];
        for (int r = 0; r < n; r++) {
            for (int k = 0; k < TK; k++) {
                mask[r * TK + k] = k < 2;
                int word = k == 0 ? classes[r] : 1 - classes[r];
                for (int j = 0; j < TEXT; j++) {
                    double v = k < 2 ? vector(word, j) + vector(2 + k, j) : 5 * vector(4 + r, j);
                    states[(r * TK + k) * TEXT + j] = (float) v;
                }
            }
        }
        return new Conditioning.Text(states, new DitText(mask, dropped, n, TK), TEXT);
    }

    @Test
    void lossFallsAndGuidedSamplesLightTheSideTheirWordOrderSays() {
        DiffusionConfig diffusion = new DiffusionConfig(100, "cosine", Prediction.V, 0.15, 20, 0, 3, 1.5, 0.9);
        MegalithConfig cfg = DitRuns.config("{max_steps: " + STEPS + ", batch_size: 32, grad_accum: 1, lr: 3.0e-3, "
                + "warmup_steps: 10, min_lr: 3.0e-4, weight_decay: 0.0}");
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        ParallelDit model = DitPlan.apply(new Dit(DIT), Placement.SINGLE);
        Noising noising = new Noising(diffusion, cfg.seed(), 0);
        PartSource.Rows rows = (step, first, count) -> {
            ImageBatch images = DitRuns.halves(step, first, count);
            Conditioning.Text text = captions(images.labels(), noising.captionDrops(step, first, count));
            return DiffusionPart.of(model, noising.rows(images, step, first), text, null);
        };
        List<Segment> plan = model.textSegments(null, null, null).all();
        List<Double> losses = new ArrayList<>();
        RankGroups groups = new RankGroups(new SingleRankCommunicator(), new SingleRankCommunicator(),
                new SingleRankCommunicator("pp", 0), null);
        int perClass = 8;
        int[] classes = new int[2 * perClass];
        for (int i = 0; i < classes.length; i++) {
            classes[i] = i / perClass;
        }
        float[] samples;
        try (NDManager manager = Torch.newManager();
                ModelParameters params = Trainer.createParameters(cfg, plan, manager, groups);
                Trainer trainer = new Trainer(cfg, PartSource.of(plan, rows), params, manager, groups)) {
            for (int s = 0; s < STEPS; s++) {
                losses.add(trainer.step(s).loss());
            }
            try (NDManager m = Torch.newManager()) {
                Sampler sampler = diffusion.sampler(new DitDenoiser(model.model(), m), 0, DitRuns.SIDE * DitRuns.SIDE);
                samples = sampler.ddim(captions(classes, new boolean[classes.length]), diffusion.samplingSteps(),
                        diffusion.eta(), diffusion.guidanceScale(), 5, 0);
            }
        }
        double first = DitLearnsTest.mean(losses.subList(0, 10));
        double last = DitLearnsTest.mean(losses.subList(STEPS - 10, STEPS));
        System.out.printf("loss %.4f -> %.4f%n", first, last);
        assertThat(last).as("mean loss of the last 10 steps vs the first 10").isLessThan(0.6 * first);
        int side = DitRuns.SIDE;
        double[] contrast = new double[classes.length];
        for (int i = 0; i < classes.length; i++) {
            double left = 0;
            double right = 0;
            for (int y = 0; y < side; y++) {
                for (int x = 0; x < side; x++) {
                    double v = samples[i * side * side + y * side + x];
                    if (x < side / 2) {
                        left += v;
                    } else {
                        right += v;
                    }
                }
            }
            contrast[i] = (left - right) / (side * side / 2.0); // about +2 for "A B", -2 for "B A"
            System.out.printf("sample %d (caption %s): left - right %.3f%n", i, classes[i] == 0 ? "A B" : "B A",
                    contrast[i]);
        }
        for (int i = 0; i < classes.length; i++) {
            if (classes[i] == 0) {
                assertThat(contrast[i]).as("sample %d of \"A B\": left brighter", i).isGreaterThan(0.5);
            } else {
                assertThat(contrast[i]).as("sample %d of \"B A\": right brighter", i).isLessThan(-0.5);
            }
        }
    }
}
