package io.megalith.core.family.segment;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.RunState;
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
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.Module;
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
import io.megalith.core.train.BertClassification;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import io.megalith.core.train.SegmentTrainer;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.eval.FamilyEvaluation;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.report.StepLines;
import io.megalith.core.train.report.StepReport;
import io.megalith.core.train.task.MlmRows;
import io.megalith.core.train.task.Seq2SeqRunTask;
import io.megalith.core.zero.GradientBuckets;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;

/**
 * The part of a {@link TrainingRun} of a model family other than the GPT, one rank of a data- and tensor-parallel
 * layout: the encoder-decoder (reversal or pairs), BERT masked-LM pre-training (optionally with NSP, {@link MlmRows})
 * or BERT sequence classification from a base run ({@link BertClassification}), trained by {@link SegmentTrainer} (DP
 * gradient sums, TP segments with vocab-parallel embedding and loss), the {@code finetune} section (LoRA adapters,
 * frozen parameters) applied to every family. Steps show as console lines; every {@code train.eval_every} steps and at
 * the end the leader evaluates a one-rank copy of the gathered parameters ({@link FamilyEvaluation}) into a metrics
 * record of its own. The checkpoint's training state holds {@code model.family} and the model's shape: a run resumes
 * from any dp x tp layout, refusing one of another model. LoRA outputs: {@link LoraCheck}'s adapters (with every
 * other tensor that trained) and merged model. Not yet: pipeline parallelism, ZeRO 2/3.
 */
public final class SegmentRun implements RankModel {
    private final MegalithConfig cfg;
    private final PrintStream console;
    private final boolean leader;
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
    private final Set<String> trained = new HashSet<>(); // names of the parameters that train

    /** {@code objective}: what cfg's model.family learns, as the family gives it (ModelFamily.objective). */
    public SegmentRun(Objective objective, Context c) throws IOException {
        MegalithConfig cfg = c.cfg();
        Configuration hadoop = c.hadoop();
        RankGroups groups = c.groups();
        String family = cfg.model().family();
        if (objective != Objective.MASKED_TOKENS && objective != Objective.SOURCE_TO_TARGET) {
            throw new IllegalArgumentException("model.family " + family + ": SegmentRun trains encoder_decoder "
                    + "and bert (gpt: GptRun)");
        }
        this.cfg = cfg;
        this.leader = c.leader();
        this.console = c.console();
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
            this.text = openText(cfg, hadoop, c.preparedData());
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
            Seq2SeqConfig sc = modelConfig;
            this.shape = new Seq2SeqConfig(sc.vocabSize(), sc.maxSourceLen(), sc.maxTargetLen(), sc.nEncoderLayer(),
                    sc.nDecoderLayer(), sc.nHead(), sc.nEmbd(), 0, sc.bias(), sc.padId(), sc.bosId(), sc.eosId(), sc.lora())
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
        if (c.latest().isPresent()) {
            checkCompatible(c.latest().get());
        }
    }

    @Override
    public SegmentTrainer trainer() {
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

    /** A classifier starts from its base run's weights. */
    @Override
    public void startFresh() throws IOException {
        if (classify != null && classify.loadBase(trainer) > 0 && leader) {
            console.printf("megalith: fine-tuning from %s (step %d)%n", classify.base().source(), classify.base().step());
        }
    }

    /** What the checkpoint stores as tokenizer: BERT's data tokenizer; the reversal task's fixed vocabulary. */
    @Override
    public byte[] tokenizer() throws IOException {
        if (text != null || classify != null) {
            return Tokenizers.toBytes(text != null ? text.tokenizer() : classify.tokenizer());
        }
        return Seq2SeqRunTask.tokenizerBytes(task);
    }

    /** The training state: step, AdamW's step count, model.family and the model's shape. */
    @Override
    public RunState state(long step) {
        return new RunState(RunState.FORMAT_VERSION, step, cfg.seed(), trainer.optimizerSteps(), step, null,
                text != null ? text.tokenizer().kind() : classify != null ? classify.tokenizer().kind()
                        : Seq2SeqRunTask.kind(task), ConfigLoader.toYaml(cfg),
                cfg.model().family(), shape);
    }

    @Override
    public StepReport progress(long startStep, long maxSteps) {
        return new StepLines(console, leader, cfg.train().logEvery(), maxSteps);
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

    /**
     * Held-out evaluation ({@link FamilyEvaluation}): every rank takes part in gathering the parameters, the leader
     * evaluates: {val_loss, exact_match | mlm_accuracy | accuracy, ...} and its console line; at the end the samples
     * (a classifier's: its report line). Null on the other ranks.
     */
    @Override
    public Evaluation evaluate(long step, Double loss, boolean last) {
        Map<String, HostTensor> full = trainer.fullParameters();
        if (!leader) {
            return null;
        }
        List<String> samples = last ? new ArrayList<>() : null;
        Map<String, Object> ev = classify != null ? classify.evaluate(full, manager).record()
                : bertConfig != null
                ? FamilyEvaluation.bert(bertConfig, i -> mlmRows(text.validation(i, cfg.train().batchSize()),
                        cfg.model().nsp() ? text.validation(MlmRows.OTHER + i, cfg.train().batchSize()) : null,
                        CounterRng.key(CounterRng.key(cfg.seed(), "mlm-validation"), i), 0), cfg.train().evalBatches(),
                        full, manager)
                : FamilyEvaluation.seq2seq(modelConfig, task, cfg.data().evalPairs(), full, manager, samples);
        String line = null;
        if (ev.containsKey("majority_baseline")) {
            String accuracy = String.format("held-out accuracy %.1f%% (majority class %.1f%%)",
                    100 * (Double) ev.get("accuracy"), 100 * (Double) ev.get("majority_baseline"));
            line = String.format("step %d: val loss %.4f, %s", step, ev.get("val_loss"), accuracy);
            if (samples != null) {
                samples.add(accuracy); // the summary's report line
            }
        } else if (ev.containsKey("mlm_accuracy")) {
            line = String.format("step %d: masked-LM validation loss %.4f, accuracy %.1f%%", step, ev.get("val_loss"),
                    100 * (Double) ev.get("mlm_accuracy"));
        } else if (ev.containsKey("exact_match")) {
            line = String.format("step %d: val loss %.4f, exact match %.1f%% on %d held-out examples", step,
                    ev.get("val_loss"), 100 * (Double) ev.get("exact_match"), task.heldOutSize(cfg.data().evalPairs()));
        }
        return new Evaluation(ev, line, samples);
    }

    /**
     * The check of the LoRA outputs from the final checkpoint: the adapters (with every other tensor that trained: a
     * classifier's head and pooler) and the merged model, checked on one validation batch.
     */
    @Override
    public LoraCheck loraCheck() {
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
        return LoraCheck.of(cfg.model().family(), shape, trained::contains, outputs);
    }

    @Override
    public void close() {
        trainer.close();
        if (text != null) {
            text.close();
        }
        store.close();
        manager.close();
    }
}
