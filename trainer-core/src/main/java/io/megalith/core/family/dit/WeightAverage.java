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
import io.megalith.core.zero.PartitionedParameters;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The EMA of a run's weights as this rank holds them: shadow = decay shadow + (1 - decay) theta after every optimizer
 * step, from the initial weights, as DiT samples from ({@link Ema#update}); with warm-up the decay of the n-th update
 * is {@link Ema#warmedUp} (n from the optimizer's step count, so a resume continues the schedule). What each layout keeps:
 * <ul>
 * <li>replicated parameters (ZeRO 0/1, with or without tp): one array per parameter, this rank's tp slice of it,
 *     updated from the flat values; it never communicates (a resume hands each tp rank its slices).
 * <li>partitioned parameters (ZeRO-2/3): one buffer of {@link PartitionedParameters#shardSize()} floats, the EMA of
 *     exactly the flat pieces this rank owns (those its AdamW moments cover), updated from
 *     {@link PartitionedParameters#piece} after each step: no communication per step and 1/dp of the model's memory.
 *     It communicates only when a checkpoint is saved (each group gathered over dp in turn, as the moments are) and
 *     when {@link #values()} is asked for (a gather; for tests).
 * </ul>
 * It rides in checkpoints beside AdamW's moments as whole tensors {@code ema.<param>} in either case (so any layout
 * resumes any other, and {@code inference/TrainedDit} loads them): this is the trainer's checkpoint
 * {@link ShardedCheckpointer.Source} with that one more state.
 */
final class WeightAverage implements ShardedCheckpointer.Source {
    static final String PREFIX = "ema.";
    private final Trainer trainer;
    private final Communicator tp;
    private final double decay;
    private final boolean warmup;
    private final PartitionedParameters partitioned; // ZeRO-2/3, else null
    private final Map<String, float[]> shadow = new LinkedHashMap<>(); // replicated: by parameter, this rank's slices
    private float[] shard; // partitioned: this rank's pieces, in shard order

    WeightAverage(Trainer trainer, Communicator tp, double decay, boolean warmup) {
        this.trainer = trainer;
        this.tp = tp;
        this.decay = decay;
        this.warmup = warmup;
        this.partitioned = trainer.parameters() instanceof PartitionedParameters pp ? pp : null;
        if (partitioned != null && partitioned.trainableElements() != partitioned.numel()) {
            // frozen parameters are in no group: the shard would not cover them
            throw new IllegalArgumentException("the DiT's EMA under zero.stage 2/3 needs every parameter trained");
        }
        reset();
    }

    /** Starts the average at the current weights. */
    void reset() {
        shadow.clear();
        if (partitioned != null) {
            shard = new float[partitioned.shardSize()];
            for (PartitionedParameters.Group g : partitioned.groups()) {
                int i = g.index();
                partitioned.piece(i).get(0, shard, partitioned.shardOffset(i), pieceLength(i));
            }
            return;
        }
        ParameterStore store = (ParameterStore) trainer.parameters();
        FloatBuffer v = store.values();
        for (Parameter p : store.parameters()) {
            float[] s = new float[(int) p.numel()];
            v.get((int) p.offset(), s);
            shadow.put(p.name(), s);
        }
    }

    /** One update from the trainer's weights after an optimizer step (local: this rank's slices or pieces). */
    void update() {
        double decay = warmup ? Ema.warmedUp(this.decay, trainer.optimizerSteps() - 1) : this.decay;
        if (partitioned != null) {
            for (PartitionedParameters.Group g : partitioned.groups()) {
                int i = g.index();
                Ema.update(shard, partitioned.shardOffset(i), pieceLength(i), partitioned.piece(i), 0, decay);
            }
            return;
        }
        ParameterStore store = (ParameterStore) trainer.parameters();
        FloatBuffer v = store.values();
        for (Parameter p : store.parameters()) {
            Ema.update(shadow.get(p.name()), v, (int) p.offset(), decay);
        }
    }

    private int pieceLength(int g) {
        return (int) (partitioned.pieceTo(g) - partitioned.pieceFrom(g));
    }

    /**
     * This rank's averaged tensors by parameter name (copies; its tp slices). Under ZeRO-2/3 a gather over dp that
     * every rank must call: for tests and tools, never per step.
     */
    Map<String, float[]> values() {
        Map<String, float[]> out = new LinkedHashMap<>();
        if (partitioned == null) {
            shadow.forEach((k, v) -> out.put(k, v.clone()));
            return out;
        }
        try (HostCopies copies = new HostCopies()) {
            trainer.copyShardState(PREFIX, FloatBuffer.wrap(shard), p -> true, copies);
            for (Parameter p : partitioned.parameters()) {
                out.put(p.name(), copies.get(PREFIX + p.name()).toFloats());
            }
        }
        return out;
    }

    /** Floats of EMA state this rank holds: its shard under ZeRO-2/3, else its slices of every parameter. */
    long heldFloats() {
        return partitioned != null ? shard.length : shadow.values().stream().mapToLong(a -> a.length).sum();
    }

    @Override
    public ModelParameters parameters() {
        return trainer.parameters();
    }

    @Override
    public void copyOptimizerState(Predicate<Parameter> which, HostCopies out) {
        trainer.copyOptimizerState(which, out);
        if (partitioned != null) {
            trainer.copyShardState(PREFIX, FloatBuffer.wrap(shard), which, out); // gathered as the moments are
            return;
        }
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

    /** The moments go to the trainer; the average takes this rank's slices (ZeRO-2/3: pieces) of {@code ema.*}. */
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
            if (t.numel() != p.numel()) {
                throw new IllegalArgumentException("EMA tensor " + PREFIX + p.name() + " has " + t.numel()
                        + " values, the parameter " + p.numel());
            }
            if (partitioned == null) {
                shadow.put(p.name(), t.toFloats());
            }
        }
        if (partitioned != null) {
            trainer.loadShardState(local, PREFIX, FloatBuffer.wrap(shard));
        }
    }

    @Override
    public List<String> statePrefixes() {
        return List.of("exp_avg.", "exp_avg_sq.", PREFIX);
    }
}
