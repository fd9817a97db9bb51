package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.AdditionData;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.TrainingData;
import io.megalith.core.data.shards.ShardedTextData;
import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.finetune.ClassificationData;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.bert.MlmMasking;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.EncoderDecoderPlan;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.parallelize.ParallelEncoderDecoder;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.eval.FamilyEvaluation;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.outputs.LoraOutputs;
import io.megalith.core.train.report.LossChart;
import io.megalith.core.train.report.MetricsLog;
import io.megalith.core.train.task.MlmRows;
import io.megalith.core.train.task.Seq2SeqRunTask;
import io.megalith.core.zero.GradientBuckets;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A training run of a model family other than the GPT ({@code model.family}), one rank of a data- and
 * tensor-parallel layout: the encoder-decoder (reversal or pairs), BERT masked-LM pre-training (optionally with NSP,
 * {@link MlmRows}) or BERT sequence classification from a base run ({@link BertClassification}), trained by {@link
 * SegmentTrainer} (DP gradient sums, TP segments with vocab-parallel embedding and loss), the {@code finetune}
 * section (LoRA adapters, frozen parameters) applied to every family. The
 * leader writes metrics.jsonl (step, loss, lr, grad_norm, tokens_per_sec; every {@code train.eval_every} steps and
 * at the end a held-out evaluation record, {@link FamilyEvaluation}, of a one-rank copy of the gathered
 * parameters), and a loss chart. Checkpoints as the GPT's ({@link ShardedCheckpointer}: every
 * {@code checkpoint.every} steps and at the end, sharded, asynchronous, {@code keep_last}): the parameters, AdamW
 * state and step, with {@code model.family} and the model's shape in the training state; a run resumes from the
 * newest complete checkpoint of run.dir (any dp x tp layout: the load reshards), refusing one of another model.
 * With {@code finetune.lora.rank > 0} the leader also writes {@link LoraOutputs}' adapters.safetensors and
 * merged.safetensors from the final checkpoint ({@link LoraCheck}: the files' metadata, the merged model's check).
 * Not yet: pipeline parallelism, ZeRO 2/3.
 */
public final class FamilyTrainingRun implements RankRun {
    private static final Logger LOG = LoggerFactory.getLogger(FamilyTrainingRun.class);
    private final MegalithConfig cfg;
    private final Configuration hadoop;
    private final RankGroups groups;
    private final boolean leader;
    private final PrintStream console;
    private final NDManager manager;
    private final Seq2SeqTask task; // encoder_decoder: reverse or pairs (Seq2SeqRunTask)
    private final Seq2SeqConfig modelConfig;
    private final EncoderDecoder model;
    private final TrainingData text; // bert: the GPT's token data (text or addition), rows behind a [CLS]
    private final BertConfig bertConfig;
    private final long specials; // bert: PAD, CLS, SEP, MASK are ids specials .. specials + 3
    private final BertClassification classify; // bert with data.task classify | speakers, else null
    private final ParameterStore store;
    private final SegmentTrainer trainer;
    private final String shape; // the model's shape (no dropout): a resume must find the same
    private final CheckpointStore checkpoints;
    private final ShardedCheckpointer checkpointer;
    private final long startStep;
    private final Set<String> trained = new HashSet<>(); // names of the parameters that train
    private TrainingRun.StepListener stepListener = step -> {};

    /** {@code objective}: what cfg's model.family learns, as the family gives it (ModelFamily.objective). */
    public FamilyTrainingRun(Objective objective, MegalithConfig cfg, Configuration hadoop, PrintStream console,
            RankGroups groups, boolean leader) throws IOException {
        this(objective, cfg, hadoop, console, groups, leader, null);
    }

    /** As above; {@code preparedData}: the token shards Spark prepared for a text task (bert), or null. */
    public FamilyTrainingRun(Objective objective, MegalithConfig cfg, Configuration hadoop, PrintStream console,
            RankGroups groups, boolean leader, String preparedData) throws IOException {
        String family = cfg.model().family();
        if (objective != Objective.MASKED_TOKENS && objective != Objective.SOURCE_TO_TARGET) {
            throw new IllegalArgumentException("model.family " + family + ": FamilyTrainingRun trains encoder_decoder "
                    + "and bert (gpt: TrainingRun)");
        }
        this.cfg = cfg;
        this.hadoop = hadoop;
        this.groups = groups;
        this.leader = leader;
        this.console = console;
        Torch.load(cfg.runtime().threads());
        Torch.enterThread();
        this.manager = Torch.newManager();
        MegalithConfig.Data d = cfg.data();
        MegalithConfig.Model m = cfg.model();
        var tp = groups.tensorParallel();
        Placement placement = Placement.tensorParallel(tp);
        List<Segment> plan;
        Module module;
        SegmentTrainer.Data parts;
        if (objective == Objective.MASKED_TOKENS && cfg.classification()) {
            // sequence classification: its data, model, segments, base weights and evaluation live there
            this.task = null;
            this.modelConfig = null;
            this.model = null;
            this.text = null;
            this.bertConfig = null;
            this.specials = 0;
            this.classify = new BertClassification(cfg, hadoop, placement);
            module = classify.model();
            this.shape = classify.shape();
            plan = classify.plan();
            parts = classify::part;
        } else if (objective == Objective.MASKED_TOKENS) {
            this.classify = null;
            this.task = null;
            this.modelConfig = null;
            this.model = null;
            this.text = openText(cfg, hadoop, preparedData);
            this.specials = text.tokenizer().vocabSize();
            // post-LN BERT, no NSP; one more position than the GPT's context for the [CLS] in front
            this.bertConfig = new BertConfig((int) specials + 4, m.blockSize() + 1, m.typeVocabSize(), m.nLayer(), m.nHead(), m.nEmbd(),
                    m.dropout(), m.bias(), m.preLn(), m.nsp(), specials, cfg.finetune().loraConfig());
            ParallelBert bert = BertPlan.apply(new Bert(bertConfig), placement);
            module = bert.model();
            this.shape = bertConfig.withDropout(0).toString();
            plan = bert.segments(null, null);
            parts = (step, first, count) -> SegmentTrainer.bert(bert, mlmRows(text.train(step, first, count),
                    m.nsp() ? text.train(step, MlmRows.OTHER + first, count) : null,
                    CounterRng.key(CounterRng.key(cfg.seed(), "mlm"), step), first));
        } else {
            this.classify = null;
            this.text = null;
            this.bertConfig = null;
            this.specials = 0;
            this.task = Seq2SeqRunTask.open(cfg, hadoop);
            this.modelConfig = task.modelConfig(m.encoderLayers(), m.decoderLayers(), m.nHead(), m.nEmbd(), m.dropout())
                    .withLora(cfg.finetune().loraConfig());
            this.model = new EncoderDecoder(modelConfig);
            ParallelEncoderDecoder parallel = EncoderDecoderPlan.apply(model, placement);
            module = model;
            Seq2SeqConfig c = modelConfig;
            this.shape = new Seq2SeqConfig(c.vocabSize(), c.maxSourceLen(), c.maxTargetLen(), c.nEncoderLayer(),
                    c.nDecoderLayer(), c.nHead(), c.nEmbd(), 0, c.bias(), c.padId(), c.bosId(), c.eosId(), c.lora())
                    .toString();
            plan = parallel.segments(null, null).all();
            parts = (step, first, count) -> SegmentTrainer.seq2seq(parallel, fixedLength(task, step, first, count));
        }
        // the finetune section: adapters were built above; freeze what it does not train before the store's layout
        if (classify != null) {
            classify.applyFinetune(cfg.finetune());
        } else {
            Freezing.apply(module.parameters(), cfg.finetune());
        }
        module.parameters().stream().filter(p -> !p.frozen()).forEach(p -> trained.add(p.name()));
        this.store = new ParameterStore(GradientBuckets.backwardOrder(plan), manager, cfg.seed());
        if (store.parameters().size() != module.parameters().size()) {
            throw new IllegalStateException("the segments do not cover every parameter of the model");
        }
        this.trainer = new SegmentTrainer(cfg, store, plan, parts, manager, groups.dataParallel(), tp);
        this.checkpoints = new CheckpointStore(cfg.run().dir(), hadoop, cfg.checkpoint().keepLast());
        Parameter noTiedParameter = null;
        this.checkpointer = new ShardedCheckpointer(checkpoints, groups, trainer, noTiedParameter, 1,
                cfg.zero().stage(), cfg.checkpoint().async(), cfg.checkpoint().commitTimeoutMillis());
        Optional<ShardedCheckpointer.Restored> latest = ShardedCheckpointer.peekLatest(checkpoints);
        if (latest.isPresent()) {
            checkCompatible(latest.get());
        }
        Optional<ShardedCheckpointer.Restored> restored = latest.isPresent()
                ? checkpointer.restore(latest.get().step()) : Optional.empty();
        if (restored.isPresent()) {
            checkCompatible(restored.get()); // perhaps an older one (the newest did not verify on every rank)
        }
        this.startStep = restored.map(r -> r.state().step()).orElse(0L);
        if (restored.isEmpty() && classify != null && classify.loadBase(trainer) > 0 && leader) {
            console.printf("megalith: fine-tuning from %s (step %d)%n", classify.base().source(), classify.base().step());
        }
        if (restored.isEmpty() && leader) {
            RunDirFs.of(cfg.run().dir(), hadoop).writeAtomically(TrainingRun.CONFIG_FILE,
                    ConfigLoader.toYaml(cfg).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A checkpoint of another family, model shape or tokenizer is refused, as {@link TrainingRun} does for the GPT. */
    private void checkCompatible(ShardedCheckpointer.Restored r) throws IOException {
        RunState s = r.state();
        String family = cfg.model().family();
        if (!cfg.sameFamily(s.family()) || !shape.equals(s.familyModel())) {
            throw new IllegalStateException("run.dir " + cfg.run().dir() + " holds checkpoints of a different model ("
                    + s.family() + " " + (s.model() != null ? s.model() : s.familyModel()) + ") than the config asks "
                    + "for (" + family + " " + shape + "); use another run.dir or the same model settings");
        }
        if (!Arrays.equals(r.tokenizer(), tokenizerBytes())) {
            throw new IllegalStateException("run.dir " + cfg.run().dir() + " holds checkpoints with another tokenizer "
                    + "than this run's data (did data.path change?); use the original data or another run.dir");
        }
    }

    /** What the checkpoint stores as tokenizer: BERT's data tokenizer; the reversal task's fixed vocabulary. */
    private byte[] tokenizerBytes() throws IOException {
        if (text != null || classify != null) {
            return Tokenizers.toBytes(text != null ? text.tokenizer() : classify.tokenizer());
        }
        return Seq2SeqRunTask.tokenizerBytes(task);
    }

    /** Called after every completed step (before it is logged and checkpointed), e.g. to inject faults in tests. */
    public void onStep(TrainingRun.StepListener listener) {
        this.stepListener = listener;
    }

    /** The step this run starts from: 0, or the step of the checkpoint it resumed. */
    public long startStep() {
        return startStep;
    }

    /** The GPT's token data for BERT: prepared shards (Spark), or the text / addition task built here. */
    private static TrainingData openText(MegalithConfig cfg, Configuration hadoop, String prepared) throws IOException {
        MegalithConfig.Data d = cfg.data();
        if (prepared != null && "text".equals(d.task())) {
            return ShardedTextData.open(prepared, hadoop, d.shardReading(), d.valFraction(), cfg.model().blockSize(), cfg.seed());
        }
        if ("addition".equals(d.task())) {
            return new AdditionData(d.digits(), d.heldOutFraction(), cfg.seed());
        }
        String all = new String(RunDirFs.readFully(d.path(), hadoop), StandardCharsets.UTF_8);
        Tokenizer tok = "bpe".equals(d.tokenizer())
                ? BpeTokenizer.train(all.substring(0, (int) Math.round(all.length() * (1 - d.valFraction()))),
                        d.bpeVocabSize())
                : CharTokenizer.fit(all);
        return new TextData(tok, tok.encode(all), d.valFraction(), cfg.model().blockSize(), cfg.seed());
    }

    /** Pre-training rows (see {@link MlmRows}): [CLS] + a window, or NSP pairs when {@code others} is given. */
    private MlmBatch mlmRows(Batch rows, Batch others, long key, int first) {
        return MlmRows.of(rows, others, specials, bertConfig.vocabSize(), key, first);
    }

    /**
     * Rows [first, first + count) of a step, padded to the task's full lengths: shapes (and so dropout masks) do
     * not depend on how the batch is cut over data-parallel ranks.
     */
    public static Seq2SeqTask.Batch fixedLength(Seq2SeqTask task, long step, int first, int count) {
        Seq2SeqTask.Batch b = task.train(step, first, count);
        long[][] src = new long[count][];
        long[][] tgt = new long[count][];
        for (int i = 0; i < count; i++) {
            src[i] = b.source(i);
            tgt[i] = b.expected(i);
        }
        return Seq2SeqTask.batch(src, tgt, task.maxSourceLen(), task.maxTargetLen());
    }

    /** Trains to {@code train.max_steps}; returns what the run did (losses, exact match, samples). */
    public TrainingRun.Summary run() throws IOException {
        return run(cfg.train().maxSteps());
    }

    /**
     * Trains from {@link #startStep} until {@code stopAt} completed steps (at most max_steps): a stop before the end
     * simulates a crash. The evaluation at the end runs when the run reaches max_steps.
     */
    public TrainingRun.Summary run(long stopAt) throws IOException {
        int steps = cfg.train().maxSteps();
        long end = Math.max(startStep, Math.min(stopAt, steps));
        if (startStep > 0) {
            console.printf("megalith: resuming %s from step %d%n", cfg.run().dir(), startStep);
        }
        try (MetricsLog metrics = leader
                ? MetricsLog.openForResume(cfg.run().dir(), hadoop, startStep == 0 ? 0 : startStep + 1) : null) {
            return train(metrics, end);
        }
    }

    private TrainingRun.Summary train(MetricsLog metrics, long end) throws IOException {
        long start = System.nanoTime();
        long tokens = 0;
        double last = Double.NaN;
        int steps = cfg.train().maxSteps();
        for (long s = startStep; s < end; s++) {
            long t0 = System.nanoTime();
            Trainer.StepStats st = trainer.step(s);
            long nanos = System.nanoTime() - t0;
            tokens += st.tokens();
            last = st.loss();
            long done = s + 1;
            try {
                stepListener.stepDone(done);
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            if (metrics != null) {
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", done);
                rec.put("loss", st.loss());
                rec.put("lr", st.lr());
                rec.put("grad_norm", st.gradNorm());
                rec.put("tokens_per_sec", st.tokens() / (nanos / 1e9));
                rec.put("step_ms", nanos / 1e6);
                rec.put("comm_ms", st.commMs());
                ShardedCheckpointer.Timing ckpt = checkpointer.lastTiming();
                if (ckpt != null) { // the last completed save
                    rec.put("ckpt_blocking_ms", ckpt.blockingMs());
                    rec.put("ckpt_hidden_frac", ckpt.hiddenFraction());
                }
                metrics.write(rec);
            }
            if (leader && (done % cfg.train().logEvery() == 0 || done == steps)) {
                console.printf("step %d: loss %.4f%n", done, st.loss());
            }
            int evalEvery = cfg.train().evalEvery();
            if (evalEvery > 0 && done % evalEvery == 0 && done < steps) { // the last step's comes after the loop
                evaluate(done, null, metrics);
                if (metrics != null) {
                    chart();
                }
            }
            int every = cfg.checkpoint().every();
            if ((every > 0 && done % every == 0) || done == steps) {
                save(done);
            }
        }
        checkpointer.awaitPending(); // the last checkpoint is complete when the run returns
        double seconds = (System.nanoTime() - start) / 1e9;
        if (end < steps) { // stopped early: no evaluation
            return new TrainingRun.Summary(startStep, end, last, Double.NaN, null, List.of(),
                    seconds > 0 ? tokens / seconds : 0, seconds);
        }
        if (startStep >= steps) {
            console.printf("megalith: %s is already trained to step %d%n", cfg.run().dir(), startStep);
            metrics = null; // evaluated again, not logged again
        }
        List<String> samples = new ArrayList<>();
        Map<String, Object> ev = evaluate(steps, samples, metrics);
        if (leader && cfg.finetune().loraConfig().enabled()) {
            writeLoraOutputs();
        }
        // classification: the held-out accuracy in the summary's exact-match slot
        Double exact = ev == null ? null : (Double) ev.getOrDefault("exact_match", ev.get("accuracy"));
        double valLoss = ev == null ? Double.NaN : (Double) ev.getOrDefault("val_loss", Double.NaN);
        boolean log = metrics != null;
        if (log) {
            chart();
        }
        return new TrainingRun.Summary(startStep, steps, last, valLoss, exact, samples,
                seconds > 0 ? tokens / seconds : 0, seconds);
    }

    /**
     * Held-out evaluation ({@link FamilyEvaluation}): every rank takes part in gathering the parameters, the leader
     * evaluates, prints and logs a record {step, val_loss, exact_match | mlm_accuracy} (metrics null: not logged).
     * Returns the leader's record, null on the other ranks.
     */
    private Map<String, Object> evaluate(long step, List<String> samples, MetricsLog metrics) throws IOException {
        Map<String, HostTensor> full = trainer.fullParameters();
        if (!leader) {
            return null;
        }
        Map<String, Object> ev = classify != null ? classify.evaluate(full, manager).record()
                : bertConfig != null
                ? FamilyEvaluation.bert(bertConfig, i -> mlmRows(text.validation(i, cfg.train().batchSize()),
                        cfg.model().nsp() ? text.validation(MlmRows.OTHER + i, cfg.train().batchSize()) : null,
                        CounterRng.key(CounterRng.key(cfg.seed(), "mlm-validation"), i), 0), cfg.train().evalBatches(),
                        full, manager)
                : FamilyEvaluation.seq2seq(modelConfig, task, cfg.data().evalPairs(), full, manager, samples);
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("step", step);
        rec.putAll(ev);
        if (metrics != null && ev.containsKey("val_loss")) {
            metrics.write(rec);
        }
        if (ev.containsKey("majority_baseline")) {
            String line = String.format("held-out accuracy %.1f%% (majority class %.1f%%)",
                    100 * (Double) ev.get("accuracy"), 100 * (Double) ev.get("majority_baseline"));
            console.printf("step %d: val loss %.4f, %s%n", step, ev.get("val_loss"), line);
            if (samples != null) {
                samples.add(line); // the summary's report line
            }
        } else if (ev.containsKey("mlm_accuracy")) {
            console.printf("step %d: masked-LM validation loss %.4f, accuracy %.1f%%%n", step, ev.get("val_loss"),
                    100 * (Double) ev.get("mlm_accuracy"));
        } else if (ev.containsKey("exact_match")) {
            console.printf("step %d: val loss %.4f, exact match %.1f%% on %d held-out examples%n", step,
                    ev.get("val_loss"), 100 * (Double) ev.get("exact_match"), task.heldOutSize(cfg.data().evalPairs()));
        }
        return ev;
    }

    /**
     * The leader's {@link LoraOutputs} from the final checkpoint: the adapters (with every other tensor that trained:
     * a classifier's head and pooler) and the merged model, checked on one validation batch.
     */
    private void writeLoraOutputs() throws IOException {
        LoraCheck.Outputs outputs;
        if (classify != null) {
            ClassificationData data = classify.data();
            int n = Math.min(4, data.heldOutSize());
            outputs = LoraCheck.classifier(classify.config(), data.labels().size(),
                    n > 0 ? data.heldOut(0, n) : data.train(0, 0, 4), manager);
        } else if (bertConfig != null) {
            outputs = LoraCheck.bertMlm(bertConfig, mlmRows(text.validation(0, 4),
                    cfg.model().nsp() ? text.validation(MlmRows.OTHER, 4) : null,
                    CounterRng.key(CounterRng.key(cfg.seed(), "mlm-validation"), 0), 0), manager);
        } else {
            int n = Math.min(4, task.heldOutSize(cfg.data().evalPairs()));
            outputs = LoraCheck.seq2seq(modelConfig, n > 0 ? task.heldOut(0, n) : fixedLength(task, 0, 0, 4),
                    manager);
        }
        LoraCheck check = LoraCheck.of(cfg.model().family(), shape, trained::contains, outputs);
        LoraOutputs.write(cfg, hadoop, checkpoints, check, console);
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
     * Every rank calls this: each snapshots and writes its shard (in the background when checkpoint.async); world
     * rank 0 adds the training state (step, AdamW's step count, model.family and the model's shape) and commits.
     */
    private void save(long step) throws IOException {
        RunState state = new RunState(RunState.FORMAT_VERSION, step, cfg.seed(), trainer.optimizerSteps(), step, null,
                text != null ? text.tokenizer().kind() : classify != null ? classify.tokenizer().kind()
                        : Seq2SeqRunTask.kind(task), ConfigLoader.toYaml(cfg),
                cfg.model().family(), shape);
        Map<String, byte[]> blobs = new LinkedHashMap<>();
        blobs.put(RunStateCodec.FILE, RunStateCodec.encode(state));
        blobs.put(ShardedCheckpointer.TOKENIZER_FILE, tokenizerBytes());
        checkpointer.save(step, blobs);
    }

    /** The one-rank model's parameters by name (a collective under tensor parallelism). */
    public Map<String, HostTensor> fullParameters() {
        return trainer.fullParameters();
    }

    @Override
    public void close() throws IOException {
        checkpointer.close();
        trainer.close();
        if (text != null) {
            text.close();
        }
        store.close();
        manager.close();
    }
}
