package io.megalith.core.family.dit;

import io.megalith.comm.Communicator;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.diffusion.Ema;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensorparallel.TensorParallelState;
import io.megalith.core.train.Trainer;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The EMA of a run's weights as this rank holds them (its tp slices; under ZeRO-2/3 whole, gathered each step):
 * shadow = decay shadow + (1 - decay) theta after every optimizer step, from the initial weights, as DiT samples from
 * ({@link Ema#update}). It rides in checkpoints beside AdamW's moments as
 * {@code ema.<param>}: this is the trainer's checkpoint {@link ShardedCheckpointer.Source} with that one more state.
 */
final class WeightAverage implements ShardedCheckpointer.Source {
    static final String PREFIX = "ema.";
    private final Trainer trainer;
    private final Communicator tp;
    private final double decay;
    private final Map<String, float[]> shadow = new LinkedHashMap<>();

    WeightAverage(Trainer trainer, Communicator tp, double decay) {
        this.trainer = trainer;
        this.tp = tp;
        this.decay = decay;
        reset();
    }

    /** Starts the average at the current weights. */
    void reset() {
        shadow.clear();
        ModelParameters params = trainer.parameters();
        if (params instanceof ParameterStore store) {
            FloatBuffer v = store.values();
            for (Parameter p : params.parameters()) {
                float[] s = new float[(int) p.numel()];
                v.get((int) p.offset(), s);
                shadow.put(p.name(), s);
            }
        } else {
            params.toHost().forEach((name, t) -> shadow.put(name, t.toFloats()));
        }
    }

    /** One update from the trainer's weights after an optimizer step (a collective under ZeRO-2/3). */
    void update() {
        ModelParameters params = trainer.parameters();
        if (params instanceof ParameterStore store) {
            FloatBuffer v = store.values();
            for (Parameter p : params.parameters()) {
                Ema.update(shadow.get(p.name()), v, (int) p.offset(), decay);
            }
            return;
        }
        for (Map.Entry<String, HostTensor> e : params.toHost().entrySet()) {
            Ema.update(shadow.get(e.getKey()), FloatBuffer.wrap(e.getValue().toFloats()), 0, decay);
        }
    }

    /** This rank's averaged tensors by parameter name (copies). */
    Map<String, float[]> values() {
        Map<String, float[]> out = new LinkedHashMap<>();
        shadow.forEach((k, v) -> out.put(k, v.clone()));
        return out;
    }

    @Override
    public ModelParameters parameters() {
        return trainer.parameters();
    }

    @Override
    public void copyOptimizerState(Predicate<Parameter> which, HostCopies out) {
        trainer.copyOptimizerState(which, out);
        for (Parameter p : trainer.parameters().parameters()) {
            if (which.test(p)) {
                out.put(PREFIX + p.name(), p.shape(), FloatBuffer.wrap(shadow.get(p.name())));
            }
        }
    }

    @Override
    public void loadFullParameters(Map<String, HostTensor> full) {
        trainer.loadFullParameters(full);
    }

    /** The moments go to the trainer; the average takes this rank's slices of {@code ema.*}. */
    @Override
    public void loadOptimizerState(Map<String, HostTensor> tensors, long stepCount) {
        Map<String, HostTensor> moments = new LinkedHashMap<>();
        Map<String, HostTensor> average = new LinkedHashMap<>();
        tensors.forEach((k, t) -> (k.startsWith(PREFIX) ? average : moments).put(k, t));
        trainer.loadOptimizerState(moments, stepCount);
        List<Parameter> params = trainer.parameters().parameters();
        Map<String, HostTensor> local = tp.size() > 1 ? TensorParallelState.slice(average, params, PREFIX) : average;
        for (Parameter p : params) {
            HostTensor t = local.get(PREFIX + p.name());
            if (t == null) {
                throw new IllegalArgumentException("the checkpoint holds no EMA tensor " + PREFIX + p.name());
            }
            float[] v = t.toFloats();
            if (v.length != p.numel()) {
                throw new IllegalArgumentException("EMA tensor " + PREFIX + p.name() + " has " + v.length
                        + " values, the parameter " + p.numel());
            }
            shadow.put(p.name(), v);
        }
    }

    @Override
    public List<String> statePrefixes() {
        return List.of("exp_avg.", "exp_avg_sq.", PREFIX);
    }
}
