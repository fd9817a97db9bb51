package io.megalith.core.family.dit;

import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.diffusion.DiffusionConfig;
import io.megalith.core.family.segment.SegmentRun;
import io.megalith.core.nn.Module;
import io.megalith.core.segment.Segment;
import io.megalith.core.train.PartSource;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * What the DiT's runs share ({@link DitRun}: class labels, {@link CaptionDitRun}: captions): the diffusion section as
 * the diffusion package reads it and the EMA of every trained weight ({@link WeightAverage}), updated after every step
 * and checkpointed with the optimizer state.
 */
public abstract class DiffusionRun extends SegmentRun {
    protected final DiffusionConfig diffusion;
    private WeightAverage ema;

    protected DiffusionRun(Context c) {
        super(c);
        this.diffusion = DitRun.diffusion(cfg.diffusion());
    }

    /** {@link #train}, then the EMA starts at the initial weights of everything {@code module} trains. */
    protected final void trainAveraged(Module module, List<Segment> segments, PartSource.Rows parts, String shape,
            Context c) throws IOException {
        train(module, segments, parts, shape, c);
        this.ema = new WeightAverage(trainer(), c.groups().tensorParallel(), diffusion.emaDecay(),
                cfg.diffusion().emaWarmup());
    }

    /** Checkpoints hold the EMA beside the optimizer state. */
    @Override
    public ShardedCheckpointer.Source checkpointed() {
        return ema;
    }

    /** After every optimizer step, on every rank: the EMA moves toward the new weights. */
    @Override
    public void stepFigures(Map<String, Object> rec) {
        ema.update();
    }

    /** This rank's EMA tensors by parameter name (its tp slices; under ZeRO-2/3 gathered: every dp rank calls it). */
    public Map<String, float[]> emaValues() {
        return ema.values();
    }

    /** Floats of EMA state this rank holds (under ZeRO-2/3 its shard of the model, else its tp slices). */
    public long emaHeldFloats() {
        return ema.heldFloats();
    }
}
