package io.megalith.core.family.dit;

import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.diffusion.DiffusionConfig;
import io.megalith.core.diffusion.Noising;
import io.megalith.core.diffusion.Prediction;
import io.megalith.core.family.segment.SegmentRun;
import io.megalith.core.nn.Module;
import io.megalith.core.segment.Segment;
import io.megalith.core.train.PartSource;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * What the DiT's runs share ({@link DitRun}: class labels, {@link CaptionDitRun}: captions): the diffusion section as
 * the diffusion package reads it, the training rows' noising ({@link Noising}) and the EMA of every trained weight
 * ({@link WeightAverage}), updated after every step and checkpointed with the optimizer state.
 */
public abstract class DiffusionRun extends SegmentRun {
    protected final DiffusionConfig diffusion;
    /** Noises the training rows; set by {@link #trainAveraged} before any row is asked for. */
    protected Noising noising;
    private WeightAverage ema;

    protected DiffusionRun(Context c) {
        super(c);
        this.diffusion = diffusion(cfg.diffusion());
    }

    /** The diffusion section as the diffusion package reads it. */
    public static DiffusionConfig diffusion(MegalithConfig.Diffusion d) {
        return new DiffusionConfig(d.timesteps(), d.schedule(), Prediction.of(d.prediction()), d.classDropout(),
                d.sampleSteps(), d.eta(), d.guidance(), d.clip(), d.emaDecay());
    }

    /**
     * {@link #train} with {@code modelShape} and the noise schedule as the shape a resume must match, rows noised
     * with {@code nullClass} for dropped labels; then the EMA starts at the initial weights of everything
     * {@code module} trains.
     */
    protected final void trainAveraged(Module module, int nullClass, List<Segment> segments, PartSource.Rows parts,
            String modelShape, Context c) throws IOException {
        this.noising = new Noising(diffusion, cfg.seed(), nullClass);
        MegalithConfig.Diffusion d = cfg.diffusion();
        train(module, segments, parts, modelShape + " diffusion " + d.schedule() + " " + d.timesteps() + " "
                + d.prediction(), c);
        this.ema = new WeightAverage(trainer(), c.groups().tensorParallel(), diffusion.emaDecay(), d.emaWarmup());
    }

    /**
     * How many held-out rows an evaluation scores: the first train.eval_batches x batch_size, or all of them at the
     * end ({@code samples} non-null).
     */
    protected final long evaluated(long heldOut, List<String> samples) {
        return samples != null ? heldOut
                : Math.min(heldOut, (long) cfg.train().evalBatches() * cfg.train().batchSize());
    }

    /** Starts the EMA again at the current weights (after a fresh run replaced some of its initial weights). */
    protected final void restartAverage() {
        ema.reset();
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
