package io.megalith.core.prune;

import io.megalith.comm.Communicator;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensorparallel.TensorParallelState;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A run's pruning masks as this rank holds them, applied to its trainer from outside. After optimizer step t the
 * masks are recut where the {@link PruneSchedule} says (from the whole tensors, gathered over the tensor- and
 * pipeline-parallel groups: a collective, so every rank cuts the masks one rank would, and keeps its slices), then
 * every pruned weight is set to 0 in the replicated storage (ZeRO 0/1; worker replicas share it). AdamW keeps moving
 * a pruned weight's moments but the weight stays 0: the next forward never sees it, and after the schedule's end the
 * fixed masks fine-tune the pruned model. The masks ride in checkpoints beside the optimizer state as whole tensors
 * {@code mask.<param>} (1 kept, 0 pruned), so a resume in any layout continues bit for bit: this is the run's
 * checkpoint {@link ShardedCheckpointer.Source}, wrapping the one it had.
 */
public final class Pruning implements ShardedCheckpointer.Source {
    public static final String PREFIX = "mask.";
    private final ShardedCheckpointer.Source inner;
    private final Supplier<Map<String, HostTensor>> wholeModel;
    private final Communicator tp;
    private final PruneSchedule schedule;
    private final ParameterStore store;
    private final Map<String, float[]> masks = new LinkedHashMap<>(); // this rank's slices, by parameter name
    private long cutStep; // the completed step the masks were cut after (0: none yet)

    /**
     * @param inner the checkpoint source the run had (its trainer, or what wraps it)
     * @param wholeModel the one-rank model's tensors by name: a collective over the groups that split the model
     *     ({@code Trainer.fullParameters})
     */
    public Pruning(ShardedCheckpointer.Source inner, Supplier<Map<String, HostTensor>> wholeModel, Communicator tp,
            PruneSchedule schedule) {
        if (!(inner.parameters() instanceof ParameterStore s)) {
            throw new IllegalArgumentException("pruning masks replicated parameters (zero.stage 0 or 1)");
        }
        this.inner = inner;
        this.wholeModel = wholeModel;
        this.tp = tp;
        this.schedule = schedule;
        this.store = s;
    }

    /** After {@code step} completed optimizer steps, on every rank: recut the masks if the schedule says so, enforce. */
    public void afterStep(long step) {
        if (schedule.cutsAt(step)) {
            cut(step);
        }
        enforce();
    }

    private void cut(long step) {
        Map<String, HostTensor> full = wholeModel.get(); // a collective over tp, pp and ep
        Map<String, HostTensor> fullMasks = new LinkedHashMap<>();
        MagnitudeMask.masks(full, schedule.at(step))
                .forEach((name, m) -> fullMasks.put(name, HostTensor.ofFloats(m, full.get(name).shape())));
        keepLocal(fullMasks, "");
        cutStep = step;
    }

    /** This rank's slices of whole masks {@code <prefix><param>}. */
    private void keepLocal(Map<String, HostTensor> whole, String prefix) {
        List<Parameter> params = store.parameters();
        Map<String, HostTensor> local = tp.size() > 1 ? TensorParallelState.slice(whole, params, prefix) : whole;
        masks.clear();
        for (Parameter p : params) {
            HostTensor t = local.get(prefix + p.name());
            if (t == null) {
                continue;
            }
            if (t.numel() != p.numel()) {
                throw new IllegalArgumentException("mask " + prefix + p.name() + " has " + t.numel() + " values, the "
                        + "parameter " + p.numel());
            }
            masks.put(p.name(), t.toFloats());
        }
    }

    /** Sets every pruned weight to 0 (+0, whatever its sign was). */
    private void enforce() {
        if (masks.isEmpty()) {
            return;
        }
        FloatBuffer v = store.values();
        for (Parameter p : store.parameters()) {
            float[] mask = masks.get(p.name());
            if (mask == null) {
                continue;
            }
            int offset = (int) p.offset();
            for (int i = 0; i < mask.length; i++) {
                if (mask[i] == 0f) {
                    v.put(offset + i, 0f);
                }
            }
        }
    }

    /** The target sparsity the masks were last cut to (0 before the first cut). */
    public double sparsity() {
        return cutStep == 0 ? 0 : schedule.at(cutStep);
    }

    /** This rank's masks by parameter name (copies of its slices; empty before the first cut). */
    public Map<String, float[]> masks() {
        Map<String, float[]> out = new LinkedHashMap<>();
        masks.forEach((k, m) -> out.put(k, m.clone()));
        return out;
    }

    @Override
    public ModelParameters parameters() {
        return inner.parameters();
    }

    @Override
    public void copyOptimizerState(Predicate<Parameter> which, HostCopies out) {
        inner.copyOptimizerState(which, out);
        for (Parameter p : store.parameters()) {
            float[] mask = masks.get(p.name());
            if (mask != null && which.test(p)) {
                out.put(PREFIX + p.name(), p.shape(), FloatBuffer.wrap(mask));
            }
        }
    }

    @Override
    public void loadFullParameters(Map<String, HostTensor> full) {
        inner.loadFullParameters(full);
    }

    /** The masks take this rank's slices of {@code mask.*} (none: not cut yet); the rest goes to the wrapped source. */
    @Override
    public void loadOptimizerState(Map<String, HostTensor> tensors, long stepCount) {
        Map<String, HostTensor> rest = new LinkedHashMap<>();
        Map<String, HostTensor> saved = new LinkedHashMap<>();
        tensors.forEach((k, t) -> (k.startsWith(PREFIX) ? saved : rest).put(k, t));
        inner.loadOptimizerState(rest, stepCount);
        keepLocal(saved, PREFIX);
        cutStep = masks.isEmpty() ? 0 : lastCut(stepCount);
    }

    /** The last step at or before {@code step} the schedule cut masks after (0: none). */
    private long lastCut(long step) {
        for (long s = Math.min(step, schedule.end()); s > schedule.start(); s--) {
            if (schedule.cutsAt(s)) {
                return s;
            }
        }
        return 0;
    }

    @Override
    public List<String> statePrefixes() {
        List<String> out = new ArrayList<>(inner.statePrefixes());
        out.add(PREFIX);
        return out;
    }
}
