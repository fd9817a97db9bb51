package io.megalith.core.testing;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.optim.AdamW;
import io.megalith.core.optim.LrSchedule;
import io.megalith.core.tensor.CounterRng;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Single-rank training of any {@link Module} whose loss a function computes (frozen layers, LoRA adapters), with the
 * conventions of the distributed trainers ({@code train/Trainer}: one flat parameter buffer, the exact AdamW,
 * global-norm clipping, nanoGPT's schedule, counter-based dropout keyed by step) but none of its parallelism: the
 * tests' independent one-rank reference. Everything in main code trains through {@code train/TrainingRun}.
 *
 * <p>Frozen parameters: the store lays out the trainable parameters first (decayed, then not) and the frozen
 * ones after them; the optimizer's state covers the trainable prefix only, and frozen parameters do not require
 * gradients, so backward does not compute them and nothing ever writes them.
 */
public final class ModuleTrainer implements AutoCloseable {
    /** Optimizer and schedule settings (torch.optim.AdamW's meaning). */
    public record Settings(double lr, double minLr, int warmupSteps, int decayEnd, double weightDecay, double beta1,
            double beta2, double eps, double gradClip) {
        public static Settings of(double lr, int steps) {
            return new Settings(lr, lr / 10, Math.max(1, steps / 20), steps, 0.01, 0.9, 0.99, 1e-8, 1.0);
        }
    }

    private final ParameterStore store;
    private final long trainable;
    private final AdamW adam;
    private final LrSchedule schedule;
    private final Settings settings;
    private final NDManager manager;
    private final FloatBuffer grads;
    private final long dropoutKey;

    /**
     * Allocates {@code model}'s parameters (initialised from {@code seed}); those {@code accepted} accepts train,
     * unless frozen.
     */
    public ModuleTrainer(Module model, Predicate<Parameter> accepted, NDManager manager, long seed, Settings settings) {
        Predicate<Parameter> trainable = p -> accepted.test(p) && !p.frozen(); // Parameter.freeze() is honoured too
        List<Parameter> layout = new ArrayList<>();
        model.parameters().stream().filter(p -> trainable.test(p) && p.decay()).forEach(layout::add);
        model.parameters().stream().filter(p -> trainable.test(p) && !p.decay()).forEach(layout::add);
        long n = layout.stream().mapToLong(Parameter::numel).sum();
        model.parameters().stream().filter(p -> !trainable.test(p)).forEach(layout::add);
        if (n == 0) {
            throw new IllegalArgumentException("no trainable parameters");
        }
        this.store = new ParameterStore(layout, manager, seed);
        for (Parameter p : layout.subList(layout.size() - (model.parameters().size() - countTrainable(model, trainable)),
                layout.size())) {
            JniUtils.attachGradient(p.value(), false); // frozen: backward computes nothing for it
        }
        this.trainable = n;
        long[] decay = store.decayRanges();
        List<Long> within = new ArrayList<>();
        for (int i = 0; i < decay.length; i += 2) {
            if (decay[i] < n) {
                within.add(decay[i]);
                within.add(Math.min(decay[i + 1], n));
            }
        }
        this.adam = new AdamW((int) n, within.stream().mapToLong(Long::longValue).toArray(), settings.beta1(),
                settings.beta2(), settings.eps(), settings.weightDecay());
        this.schedule = new LrSchedule(settings.lr(), settings.minLr(), settings.warmupSteps(), settings.decayEnd());
        this.settings = settings;
        this.manager = manager;
        this.grads = ByteBuffer.allocateDirect((int) store.numel() * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        this.dropoutKey = CounterRng.key(seed, "dropout");
    }

    private static int countTrainable(Module model, Predicate<Parameter> trainable) {
        return (int) model.parameters().stream().filter(trainable).count();
    }

    /** Every parameter trains. */
    public ModuleTrainer(Module model, NDManager manager, long seed, Settings settings) {
        this(model, p -> true, manager, seed, settings);
    }

    public ParameterStore store() {
        return store;
    }

    /** Number of trained elements (the optimizer's state). */
    public long trainableElements() {
        return trainable;
    }

    /** One optimizer step on the loss {@code loss} computes (in training mode) and returns it. */
    public double step(long step, Function<ForwardContext, PtNDArray> loss) {
        double value;
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            ForwardContext ctx = new ForwardContext(true, CounterRng.key(dropoutKey, step), m);
            PtNDArray l;
            JniUtils.setGradMode(true);
            try {
                l = loss.apply(ctx);
            } finally {
                JniUtils.setGradMode(false);
            }
            value = l.getFloat();
            JniUtils.backward(l, JniUtils.onesLike(l, l.getDataType(), l.getDevice(), SparseFormat.DENSE),
                    false, false);
        }
        FloatBuffer g = grads.duplicate().position(0).limit((int) trainable);
        store.gradientsOfRange(0, trainable, g, false);
        double norm = AdamW.l2Norm(g);
        double clip = settings.gradClip() > 0 && norm > settings.gradClip() ? settings.gradClip() / (norm + 1e-6) : 1.0;
        adam.step(store.values().position(0).limit((int) trainable).slice(), g, schedule.at(step), clip);
        store.zeroGradients();
        return value;
    }

    /** Runs {@code work} in inference mode (no dropout, no autograd) inside its own scope. */
    public <T> T eval(Function<ForwardContext, T> work) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            return work.apply(ForwardContext.inference(m));
        }
    }

    @Override
    public void close() {
        adam.close();
        store.close();
    }
}
