package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TrainingData;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.optim.AdamW;
import io.megalith.core.optim.LrSchedule;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Ops;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * What one rank computes for one optimizer step: forward and backward over the step's micro-batches
 * (gradients accumulate in libtorch), gradients copied once into a flat buffer, global-norm clipping,
 * and the fused AdamW update in place on the flat parameter buffer.
 */
public final class Trainer implements AutoCloseable {
    private final MegalithConfig.Train cfg;
    private final Gpt model;
    private final ParameterStore store;
    private final AdamW optimizer;
    private final LrSchedule schedule;
    private final TrainingData data;
    private final NDManager manager;
    private final FloatBuffer gradients;
    private final FloatBuffer values;
    private final long dropoutKey;

    /** Result of one optimizer step. */
    public record StepStats(long step, double loss, double lr, double gradNorm, long tokens) {}

    public Trainer(MegalithConfig config, Gpt model, ParameterStore store, TrainingData data, NDManager manager) {
        this.cfg = config.train();
        this.model = model;
        this.store = store;
        this.data = data;
        this.manager = manager;
        this.optimizer = new AdamW((int) store.numel(), (int) store.decayElements(), cfg.beta1(), cfg.beta2(), cfg.eps(),
                cfg.weightDecay());
        this.schedule = new LrSchedule(cfg.lr(), cfg.minLr(), cfg.warmupSteps(), cfg.decayEnd());
        this.gradients = ByteBuffer.allocateDirect((int) store.numel() * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        this.values = store.values();
        this.dropoutKey = CounterRng.key(config.seed(), "dropout");
    }

    public AdamW optimizer() {
        return optimizer;
    }

    public ParameterStore store() {
        return store;
    }

    public Gpt model() {
        return model;
    }

    /**
     * Optimizer step {@code step} (0-based: the step-th update): its micro-batches are samples
     * [m*B, (m+1)*B) of the step's global batch.
     */
    public StepStats step(long step) {
        int b = cfg.batchSize();
        int accum = cfg.gradAccum();
        double lossSum = 0;
        long tokens = 0;
        for (int micro = 0; micro < accum; micro++) {
            Batch batch = data.train(step, micro * b, b);
            tokens += batch.inputs().length;
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                PtNDArray ids = Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen());
                Targets targets = Targets.of(m, batch.targets());
                ForwardContext ctx = new ForwardContext(true, CounterRng.key(dropoutKey, step, micro), m);
                JniUtils.setGradMode(true);
                PtNDArray loss;
                try {
                    loss = model.loss(ids, targets, ctx);
                } finally {
                    JniUtils.setGradMode(false);
                }
                // the step's loss is the mean over micro-batches, so each backward carries 1/accum
                JniUtils.backward(loss, Ops.scalar(m, 1f / accum), false, false);
                lossSum += loss.getFloat();
            }
        }
        store.copyGradients(gradients);
        double norm = AdamW.l2Norm(gradients);
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1
        double clip = cfg.gradClip() > 0 ? Math.min(1.0, cfg.gradClip() / (norm + 1e-6)) : 1.0;
        double lr = schedule.at(step);
        optimizer.step(values, gradients, lr, clip);
        store.zeroGradients();
        return new StepStats(step, lossSum / accum, lr, norm, tokens);
    }

    /** Mean loss over {@code batches} validation batches (no dropout, no gradients). */
    public double validationLoss(int batches) {
        double sum = 0;
        for (int i = 0; i < batches; i++) {
            Batch batch = data.validation(i, cfg.batchSize());
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                PtNDArray ids = Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen());
                sum += model.loss(ids, Targets.of(m, batch.targets()), ForwardContext.inference(m)).getFloat();
            }
        }
        return sum / batches;
    }

    @Override
    public void close() {}
}
