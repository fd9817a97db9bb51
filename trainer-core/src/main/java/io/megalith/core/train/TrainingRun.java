package io.megalith.core.train;

import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.prune.PruneSchedule;
import io.megalith.core.prune.Pruning;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.outputs.LoraOutputs;
import io.megalith.core.train.report.LossChart;
import io.megalith.core.train.report.MetricsLog;
import io.megalith.core.train.report.StepReport;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One training run on one rank, from config to trained model, for every model family: resume from the latest
 * complete checkpoint of {@code run.dir} (or start fresh), train to {@code train.max_steps} with evaluation, metrics,
 * a loss chart and checkpoints along the way, then LoRA outputs and samples. What differs by family (its model, plan,
 * trainer, data, evaluation, samples) is its {@link RankModel}, which the family builds.
 */
public final class TrainingRun implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingRun.class);
    // the names the checkpointer writes, by their role in a run
    public static final String MODEL_FILE = ShardedCheckpointer.MODEL;
    public static final String OPTIMIZER_FILE = ShardedCheckpointer.OPTIMIZER;
    public static final String STATE_FILE = ShardedCheckpointer.LEGACY_STATE_FILE;
    public static final String TOKENIZER_FILE = ShardedCheckpointer.TOKENIZER_FILE;
    public static final String CONFIG_FILE = "config.yaml";

    private final MegalithConfig cfg;
    private final Configuration hadoop;
    private final PrintStream console;
    private final CheckpointStore checkpoints;
    private final RankModel rank;
    private final Trainer trainer;
    private final ShardedCheckpointer checkpointer;
    private final Pruning pruning; // a prune section, else null
    private final long startStep;
    private final boolean leader;

    /** What a run did, for the caller to report. */
    public record Summary(long startStep, long endStep, double lastLoss, double valLoss, Double exactMatch,
            List<String> samples, double tokensPerSec, double trainSeconds) implements Serializable {
        private static final long serialVersionUID = 1L;

        public Summary {
            samples = List.copyOf(samples);
        }
    }

    /** Called after every completed step with its number (e.g. to inject faults in tests of restarts). */
    public interface StepListener {
        void stepDone(long step) throws Exception;
    }

    private StepListener stepListener = step -> {};

    /** Called after every completed step (before it is logged and checkpointed), e.g. to inject faults in tests. */
    public void onStep(StepListener listener) {
        this.stepListener = listener;
    }

    /**
     * One rank of a job, its groups from the device mesh; only the {@code leader} (global rank 0) writes to run.dir:
     * config, tokenizer, metrics, loss chart; every rank writes its checkpoint shard. {@code preparedData}: a token
     * data set the launcher prepared once (Spark tokenizes the input into shards), or null.
     */
    public TrainingRun(RankModel.Builder family, MegalithConfig cfg, Configuration hadoop, PrintStream console,
            RankGroups groups, boolean leader, String preparedData) throws IOException {
        this.cfg = cfg;
        this.leader = leader;
        this.hadoop = hadoop;
        this.console = console;
        Torch.load(cfg.runtime().threads());
        this.checkpoints = new CheckpointStore(cfg.run().dir(), hadoop, cfg.checkpoint().keepLast());
        // the newest checkpoint's state and tokenizer: the family checks it is its own; its tensors are read below
        Optional<ShardedCheckpointer.Restored> latest = ShardedCheckpointer.peekLatest(checkpoints);
        this.rank = family.build(new RankModel.Context(cfg, hadoop, console, groups, leader, preparedData, latest));
        this.trainer = rank.trainer();
        // pruning applies to every family from outside: its masks ride in checkpoints beside what the family keeps
        this.pruning = cfg.prune().active() ? new Pruning(rank.checkpointed(), trainer::fullParameters,
                groups.tensorParallel(), PruneSchedule.of(cfg.prune(), cfg.train().maxSteps())) : null;
        this.checkpointer = new ShardedCheckpointer(checkpoints, groups, pruning != null ? pruning : rank.checkpointed(),
                rank.tiedParameter(),
                rank.expertParallel(), cfg.zero().stage(), cfg.checkpoint().async(), cfg.checkpoint().commitTimeoutMillis());
        Optional<ShardedCheckpointer.Restored> restored = latest.isPresent()
                ? checkpointer.restore(latest.get().step()) : Optional.empty();
        if (restored.isPresent()) {
            rank.checkRestored(latest.get(), restored.get());
        }
        this.startStep = restored.map(r -> r.state().step()).orElse(0L);
        if (restored.isEmpty()) {
            rank.startFresh();
        }
        if (restored.isEmpty() && leader) {
            RunDirFs runDir = RunDirFs.of(cfg.run().dir(), hadoop);
            runDir.writeAtomically(CONFIG_FILE, ConfigLoader.toYaml(cfg).getBytes(StandardCharsets.UTF_8));
            for (Map.Entry<String, byte[]> f : rank.runFiles().entrySet()) {
                runDir.writeAtomically(f.getKey(), f.getValue());
            }
        }
    }

    /** The step this run starts from: 0, or the step of the checkpoint it resumed. */
    public long startStep() {
        return startStep;
    }

    /** This rank's pruning masks by parameter name (its slices; empty without a prune section or before a cut). */
    public Map<String, float[]> pruningMasks() {
        return pruning == null ? Map.of() : pruning.masks();
    }

    /** The family's part of this run: its model, data and trainer on this rank. */
    public RankModel rankModel() {
        return rank;
    }

    /** The one-rank model's parameters by name (a collective under tensor parallelism). */
    public Map<String, HostTensor> fullParameters() {
        return rank.fullParameters();
    }

    /** Trains to train.max_steps. */
    public Summary run() throws IOException {
        return run(cfg.train().maxSteps());
    }

    /**
     * Trains from {@link #startStep} until {@code stopAt} completed steps (at most max_steps): a stop before the end
     * simulates a crash. LoRA outputs and samples come when the run reaches max_steps.
     */
    public Summary run(long stopAt) throws IOException {
        MegalithConfig.Train t = cfg.train();
        long end = Math.max(startStep, Math.min(stopAt, t.maxSteps()));
        rank.describe(console);
        if (startStep > 0) {
            console.printf("megalith: resuming %s from step %d%n", cfg.run().dir(), startStep);
        }
        double lastLoss = Double.NaN;
        RankModel.Evaluation ev = null;
        long trainNanos = 0;
        long trainTokens = 0;
        try (MetricsLog metrics = leader
                        ? MetricsLog.openForResume(cfg.run().dir(), hadoop, startStep == 0 ? 0 : startStep + 1) : null;
                StepReport progress = rank.progress(startStep, t.maxSteps())) {
            if (startStep == 0 && end > 0 && rank.evaluatesAtStart()) {
                ev = rank.evaluate(0, null, false);
                log(metrics, 0, ev);
            }
            for (long step = startStep; step < end; step++) {
                long t0 = System.nanoTime();
                Trainer.StepStats s = trainer.step(step);
                long nanos = System.nanoTime() - t0;
                trainNanos += nanos;
                trainTokens += s.tokens();
                long done = step + 1;
                lastLoss = s.loss();
                double tokensPerSec = s.tokens() / (nanos / 1e9);
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", done);
                rec.put("loss", s.loss());
                rec.put("lr", s.lr());
                rec.put("grad_norm", s.gradNorm());
                rec.put("tokens_per_sec", tokensPerSec);
                rec.put("step_ms", nanos / 1e6);
                rec.put("comm_ms", s.commMs()); // communication the step waited for (not hidden by backward)
                if (pruning != null) {
                    pruning.afterStep(done); // before the family's figures: an EMA averages the pruned weights
                    rec.put("sparsity", pruning.sparsity());
                }
                rank.stepFigures(rec);
                try {
                    stepListener.stepDone(done);
                } catch (IOException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                progress.update(done, s.loss(), tokensPerSec);
                boolean evalDue = (t.evalEvery() > 0 && done % t.evalEvery() == 0) || done == t.maxSteps();
                RankModel.Evaluation stepEv = evalDue ? rank.evaluate(done, s.loss(), done == t.maxSteps()) : null;
                if (stepEv != null) {
                    ev = stepEv;
                    if (stepEv.line() != null) {
                        progress.message(stepEv.line());
                    }
                    if (rank.evaluationInStepRecord()) {
                        rec.putAll(stepEv.figures());
                    }
                }
                rank.memoryFigures(rec);
                ShardedCheckpointer.Timing ckpt = checkpointer.lastTiming();
                if (ckpt != null) { // the last completed save
                    rec.put("ckpt_blocking_ms", ckpt.blockingMs());
                    rec.put("ckpt_hidden_frac", ckpt.hiddenFraction());
                }
                if (leader) {
                    metrics.write(rec);
                }
                if (stepEv != null && !rank.evaluationInStepRecord()) {
                    log(metrics, done, stepEv);
                }
                int every = cfg.checkpoint().every();
                if ((every > 0 && done % every == 0) || done == t.maxSteps()) {
                    save(done);
                }
                if (leader && evalDue) {
                    chart();
                }
            }
            checkpointer.awaitPending(); // the last checkpoint is complete when the run returns
        }
        if (end == startStep && startStep >= t.maxSteps()) { // after the progress bar's last line
            console.printf("megalith: %s is already trained to step %d%n", cfg.run().dir(), startStep);
            ev = rank.evaluate(t.maxSteps(), null, true); // evaluated again, not logged again
            if (ev != null && ev.line() != null) {
                console.println(ev.line());
            }
        }
        boolean finished = end >= t.maxSteps();
        if (leader && finished && cfg.finetune().loraConfig().enabled()) {
            LoraOutputs.write(cfg, hadoop, checkpoints, rank.loraCheck(), console);
        }
        Map<String, Object> figures = ev == null ? Map.of() : ev.figures();
        // classification: the held-out accuracy in the summary's exact-match slot
        Double exact = (Double) figures.getOrDefault("exact_match", figures.get("accuracy"));
        double valLoss = (Double) figures.getOrDefault("val_loss", Double.NaN);
        List<String> samples = finished && ev != null && ev.samples() != null ? ev.samples() : List.of();
        double seconds = trainNanos / 1e9;
        return new Summary(startStep, end, lastLoss, valLoss, exact, samples,
                seconds > 0 ? trainTokens / seconds : 0, seconds);
    }

    /** An evaluation's record of its own, {step, figures...}, on the leader (when it has a validation loss). */
    private void log(MetricsLog metrics, long step, RankModel.Evaluation ev) throws IOException {
        if (metrics == null || ev == null || !ev.figures().containsKey("val_loss")) {
            return;
        }
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("step", step);
        rec.putAll(ev.figures());
        metrics.write(rec);
    }

    private void chart() {
        try {
            LossChart.writeToRunDir(cfg.run().dir(), hadoop, cfg.run().name(), MetricsLog.read(cfg.run().dir(), hadoop),
                    cfg.report().lossScale());
        } catch (IOException | RuntimeException e) {
            LOG.warn("could not draw {}/loss.png: {}", cfg.run().dir(), e.toString());
        }
    }

    /**
     * Every rank calls this: each snapshots and writes its shard (in the background when checkpoint.async), world
     * rank 0 adds the training state and tokenizer and commits (see {@link ShardedCheckpointer}).
     */
    private void save(long step) throws IOException {
        Map<String, byte[]> blobs = new LinkedHashMap<>();
        blobs.put(RunStateCodec.FILE, RunStateCodec.encode(rank.state(step)));
        blobs.put(TOKENIZER_FILE, rank.tokenizer());
        checkpointer.save(step, blobs);
    }

    @Override
    public void close() {
        checkpointer.close();
        rank.close();
    }
}
