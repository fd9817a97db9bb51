package io.megalith.core.family.segment;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.RankModel;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.report.StepLines;
import io.megalith.core.train.report.StepReport;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the families whose model is a list of segments share as the part of a {@link TrainingRun} on one rank of a
 * data- and tensor-parallel layout (BERT: {@code family/bert/BertRun}, the encoder-decoder:
 * {@code family/seq2seq/Seq2SeqRun}): the parameters over the model's segments (DP gradient sums, ZeRO 0-3, TP
 * segments with vocab-parallel embedding and loss), the {@link Trainer}, the checkpoint's training state (holding {@code
 * model.family} and the model's shape: a run resumes from any dp x tp layout, refusing one of another model), console
 * step lines, the leader's evaluation of the gathered parameters and the LoRA outputs ({@link LoraCheck}'s adapters,
 * with every other tensor that trained, and merged model). A family builds its model and segments, then calls
 * {@link #train}. Not yet: pipeline parallelism.
 */
public abstract class SegmentRun implements RankModel {
    protected final MegalithConfig cfg;
    protected final PrintStream console;
    protected final boolean leader;
    protected final NDManager manager;
    private final Set<String> trained = new HashSet<>(); // names of the parameters that train
    private String shape; // the model's shape (no dropout): a resume must find the same
    private ModelParameters store;
    private Trainer trainer;

    protected SegmentRun(Context c) {
        this.cfg = c.cfg();
        this.leader = c.leader();
        this.console = c.console();
        Torch.enterThread();
        this.manager = Torch.newManager();
    }

    /**
     * The end of a family's constructor: {@code module} built by its plan into {@code segments}, its frozen
     * parameters already marked (the layout holds only what trains); {@code parts} give a step's rows; checks a
     * checkpoint to resume from.
     */
    protected final void train(Module module, List<Segment> segments, PartSource.Rows parts, String shape,
            Context c) throws IOException {
        this.shape = shape;
        module.parameters().stream().filter(p -> !p.frozen()).forEach(p -> trained.add(p.name()));
        this.store = Trainer.createParameters(cfg, segments, manager, c.groups());
        if (store.parameters().size() != module.parameters().size()) {
            throw new IllegalStateException("the segments do not cover every parameter of the model");
        }
        this.trainer = new Trainer(cfg, PartSource.of(segments, parts), store, manager, c.groups());
        if (c.latest().isPresent()) {
            checkCompatible(c.latest().get());
        }
    }

    @Override
    public Trainer trainer() {
        return trainer;
    }

    /** Perhaps an older checkpoint than the newest (which did not verify on every rank): checked again. */
    @Override
    public void checkRestored(ShardedCheckpointer.Restored latest, ShardedCheckpointer.Restored restored)
            throws IOException {
        checkCompatible(restored);
    }

    /** A checkpoint of another family, model shape or tokenizer is refused, as the GPT's run does. */
    private void checkCompatible(ShardedCheckpointer.Restored r) throws IOException {
        RunState s = r.state();
        String family = cfg.model().family();
        if (!cfg.sameFamily(s.family()) || !shape.equals(s.familyModel())) {
            throw new IllegalStateException("run.dir " + cfg.run().dir() + " holds checkpoints of a different model ("
                    + s.family() + " " + (s.model() != null ? s.model() : s.familyModel()) + ") than the config asks "
                    + "for (" + family + " " + shape + "); use another run.dir or the same model settings");
        }
        if (!Arrays.equals(r.tokenizer(), tokenizer())) {
            throw new IllegalStateException("run.dir " + cfg.run().dir() + " holds checkpoints with another tokenizer "
                    + "than this run's data (did data.path change?); use the original data or another run.dir");
        }
    }

    /** The tokenizer kind the training state names. */
    protected abstract String tokenizerKind();

    /** The training state: step, AdamW's step count, model.family and the model's shape. */
    @Override
    public RunState state(long step) {
        return new RunState(RunState.FORMAT_VERSION, step, cfg.seed(), trainer.optimizerSteps(), step, null,
                tokenizerKind(), ConfigLoader.toYaml(cfg), cfg.model().family(), shape);
    }

    @Override
    public StepReport progress(long startStep, long maxSteps) {
        return new StepLines(console, leader, cfg.train().logEvery(), maxSteps);
    }

    /**
     * Held-out evaluation: every rank takes part in gathering the parameters, the leader evaluates ({@link
     * #evaluate(long, Map, List)}). Null on the other ranks.
     */
    @Override
    public Evaluation evaluate(long step, Double loss, boolean last) {
        Map<String, HostTensor> full = trainer.fullParameters();
        if (!leader) {
            return null;
        }
        return evaluate(step, full, last ? new ArrayList<>() : null);
    }

    /** The leader's evaluation of {@code full}; {@code samples} (the last evaluation's, else null) to fill. */
    protected abstract Evaluation evaluate(long step, Map<String, HostTensor> full, List<String> samples);

    /** The check of the LoRA outputs from the final checkpoint: the model run on one validation batch. */
    @Override
    public LoraCheck loraCheck() {
        return LoraCheck.of(cfg.model().family(), shape, trained::contains, loraOutputs());
    }

    /**
     * What the LoRA check runs on a family that trains adapters; a family whose config refuses finetune.lora (the
     * image families) keeps this default, which a run never reaches.
     */
    protected LoraCheck.Outputs loraOutputs() {
        throw new IllegalStateException("model.family " + cfg.model().family() + " trains no LoRA adapters");
    }

    /** Closes the family's data, between the trainer and the parameter store. */
    protected void closeData() {}

    @Override
    public void close() {
        trainer.close();
        closeData();
        store.close();
        manager.close();
    }
}
