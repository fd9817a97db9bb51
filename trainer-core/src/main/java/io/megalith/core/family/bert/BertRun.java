package io.megalith.core.family.bert;

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
import io.megalith.core.family.segment.SegmentRun;
import io.megalith.core.finetune.ClassificationData;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.outputs.LoraCheck;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * BERT's part of a training run on one rank ({@link SegmentRun}): masked-LM pre-training (optionally with NSP,
 * {@link MlmRows}) on the GPT's token data, or sequence classification from a base run ({@link BertClassification}),
 * with the {@code finetune} section (LoRA adapters, frozen parameters) applied. Evaluation: {@link MlmEvaluation} or
 * the classifier's held-out accuracy.
 */
public final class BertRun extends SegmentRun {
    private final TrainingData text; // pre-training: the GPT's token data (text or addition), rows behind a [CLS]
    private final BertConfig bertConfig; // pre-training
    private final long specials; // pre-training: PAD, CLS, SEP, MASK are ids specials .. specials + 3
    private final BertClassification classify; // data.task classify | speakers, else null

    public BertRun(Context c) throws IOException {
        super(c);
        MegalithConfig.Model m = cfg.model();
        Placement placement = Placement.tensorParallel(c.groups().tensorParallel());
        if (cfg.classification()) {
            // sequence classification: its data, model, segments, base weights and evaluation live there
            this.text = null;
            this.bertConfig = null;
            this.specials = 0;
            this.classify = new BertClassification(cfg, c.hadoop(), placement);
            String shape = classify.shape();
            List<Segment> segments = classify.plan();
            classify.applyFinetune(cfg.finetune()); // adapters were built; freeze what it does not train
            train(classify.model(), segments, classify::part, shape, c);
            return;
        }
        this.classify = null;
        this.text = openText(cfg, c.hadoop(), c.preparedData());
        this.specials = text.tokenizer().vocabSize();
        // post-LN BERT, no NSP; one more position than the GPT's context for the [CLS] in front
        this.bertConfig = new BertConfig((int) specials + 4, m.blockSize() + 1, m.typeVocabSize(), m.nLayer(), m.nHead(),
                m.nEmbd(), m.dropout(), m.bias(), m.preLn(), m.nsp(), specials, cfg.finetune().loraConfig());
        ParallelBert bert = BertPlan.apply(new Bert(bertConfig), placement);
        List<Segment> segments = bert.segments(null, null);
        PartSource.Rows parts = (step, first, count) -> MlmPart.of(bert, mlmRows(
                text.train(step, first, count), m.nsp() ? text.train(step, MlmRows.OTHER + first, count) : null,
                CounterRng.key(CounterRng.key(cfg.seed(), "mlm"), step), first));
        Freezing.apply(bert.model().parameters(), cfg.finetune()); // adapters were built; freeze what it does not train
        train(bert.model(), segments, parts, bertConfig.withDropout(0).toString(), c);
    }

    /** The classification task of a {@code data.task classify | speakers} run, or null (masked LM). */
    public BertClassification classification() {
        return classify;
    }

    /** A classifier starts from its base run's weights. */
    @Override
    public void startFresh() throws IOException {
        if (classify != null && classify.loadBase(trainer()) > 0 && leader) {
            console.printf("megalith: fine-tuning from %s (step %d)%n", classify.base().source(), classify.base().step());
        }
    }

    /** What the checkpoint stores as tokenizer: the data's (a classifier's: its base run's). */
    @Override
    public byte[] tokenizer() throws IOException {
        return Tokenizers.toBytes(tokenizerOfData());
    }

    @Override
    protected String tokenizerKind() {
        return tokenizerOfData().kind();
    }

    private Tokenizer tokenizerOfData() {
        return text != null ? text.tokenizer() : classify.tokenizer();
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

    /** Validation batch i of {@code rows} rows, masked by the validation key. */
    private MlmBatch validation(int i, int rows) {
        return mlmRows(text.validation(i, rows), cfg.model().nsp() ? text.validation(MlmRows.OTHER + i, rows) : null,
                CounterRng.key(CounterRng.key(cfg.seed(), "mlm-validation"), i), 0);
    }

    /**
     * {val_loss, mlm_accuracy} ({@link MlmEvaluation}) or a classifier's {val_loss, accuracy, majority_baseline}
     * and its console line; at the end a classifier's report line as the samples.
     */
    @Override
    protected Evaluation evaluate(long step, Map<String, HostTensor> full, List<String> samples) {
        Map<String, Object> ev = classify != null ? classify.evaluate(full, manager).record()
                : MlmEvaluation.of(bertConfig, i -> validation(i, cfg.train().batchSize()), cfg.train().evalBatches(),
                        full, manager);
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
        }
        return new Evaluation(ev, line, samples);
    }

    /** The adapters (with every other tensor that trained: a classifier's head and pooler) and the merged model. */
    @Override
    protected LoraCheck.Outputs loraOutputs() {
        if (classify != null) {
            ClassificationData data = classify.data();
            int n = Math.min(4, data.heldOutSize());
            return LoraCheck.classifier(classify.config(), data.labels().size(),
                    n > 0 ? data.heldOut(0, n) : data.train(0, 0, 4), manager);
        }
        return LoraCheck.bertMlm(bertConfig, validation(0, 4), manager);
    }

    @Override
    protected void closeData() {
        if (text != null) {
            text.close();
        }
    }
}
