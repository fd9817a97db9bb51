package io.megalith.core.diffusion;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.parallelize.DitPlan;
import io.megalith.core.parallelize.ParallelDit;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Synthetic two-class images and a DiT trained on them through the {@link Trainer}, for the diffusion tests. */
final class DitRuns {
    static final int SIDE = 8;

    private DitRuns() {}

    /**
     * Row {@code first + i} of step {@code step}: class 0 lights the left half, class 1 the right half (+b against
     * -b, b in [0.7, 1]), with a little pixel noise; a pure function of (step, global row).
     */
    static ImageBatch halves(long step, int first, int count) {
        int per = SIDE * SIDE;
        float[] px = new float[count * per];
        int[] labels = new int[count];
        for (int r = 0; r < count; r++) {
            long key = CounterRng.key(99, step, first + r);
            int label = (int) CounterRng.below(key, 0, 2);
            double b = 0.7 + 0.3 * CounterRng.uniform(key, 1);
            labels[r] = label;
            for (int y = 0; y < SIDE; y++) {
                for (int x = 0; x < SIDE; x++) {
                    boolean lit = (x < SIDE / 2) == (label == 0);
                    double noise = 0.05 * CounterRng.normal(key, 2 + y * SIDE + x);
                    px[r * per + y * SIDE + x] = (float) ((lit ? b : -b) + noise);
                }
            }
        }
        return new ImageBatch(px, labels, count, 1, SIDE, SIDE);
    }

    static MegalithConfig config(String train, String... overrides) {
        return ConfigLoader.fromYaml("""
                seed: 3
                model: {n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.0, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: %s
                runtime: {threads: 1}
                """.formatted(train), List.of(overrides), "dit test");
    }

    /** A DiT over the run's layout, trained {@code steps} steps; {@code start} (optional) sets the one-rank weights. */
    static void train(MegalithConfig cfg, DitConfig dit, DiffusionConfig diffusion, Communicator dp, Communicator tp,
            Map<String, HostTensor> start, int steps, StepObserver observer) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        ParallelDit model = DitPlan.apply(new Dit(dit), Placement.tensorParallel(tp));
        Noising noising = new Noising(diffusion, cfg.seed(), dit.nullClass());
        PartSource.Rows rows = (step, first, count) ->
                DiffusionPart.of(model, noising.rows(halves(step, first, count), step, first));
        List<Segment> plan = model.segments(null, null);
        RankGroups groups = new RankGroups(dp, tp, new SingleRankCommunicator("pp", 0), null);
        try (NDManager manager = Torch.newManager();
                ModelParameters params = Trainer.createParameters(cfg, plan, manager, groups);
                Trainer trainer = new Trainer(cfg, PartSource.of(plan, rows), params, manager, groups)) {
            if (start != null) {
                trainer.loadFullParameters(start);
            }
            for (int s = 0; s < steps; s++) {
                observer.step(s, trainer.step(s).loss(), trainer, params, model.model());
            }
        }
    }

    interface StepObserver {
        void step(int step, double loss, Trainer trainer, ModelParameters params, Dit model);
    }

    /** Random one-rank weights for every parameter of a DiT (the zero-initialised ones too), keyed by name. */
    static Map<String, HostTensor> randomWeights(DitConfig dit, double std) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Parameter p : new Dit(dit).parameters()) {
            float[] v = new float[(int) p.numel()];
            long key = CounterRng.key(17, p.name());
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (std * CounterRng.normal(key, i));
            }
            out.put(p.name(), HostTensor.ofFloats(v, p.shape()));
        }
        return out;
    }
}
