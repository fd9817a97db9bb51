package io.megalith.core.family.bert;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.finetune.BaseCheckpoint;
import io.megalith.core.finetune.ClassificationData;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.ParallelClassifier;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.Part;
import io.megalith.core.train.Trainer;
import io.megalith.core.train.TrainingRun;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * BERT sequence classification as a {@link TrainingRun} task ({@code model.family: bert}, {@code data.task:
 * classify | speakers}): the labeled data (texts or sentence pairs), a {@link SequenceClassifier} for this rank of
 * the tensor-parallel group, its segments for the {@link Trainer} (the loss a mean over the step's sequences, any
 * dp cut alike), the base weights of {@code checkpoint.init_from} (a {@code megalith train} BERT run: its tokenizer,
 * so token ids match, and every backbone tensor; the classifier head and LoRA adapters stay at their init) and the
 * held-out evaluation.
 */
public final class BertClassification {
    /** Held-out cross-entropy, accuracy, and the accuracy of always answering the most frequent training label. */
    public record Eval(double loss, double accuracy, double majority, int examples) {
        /** The metrics.jsonl fields: val_loss, accuracy, majority_baseline. */
        public Map<String, Object> record() {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("val_loss", loss);
            r.put("accuracy", accuracy);
            r.put("majority_baseline", majority);
            return r;
        }
    }

    private final MegalithConfig cfg;
    private final BaseCheckpoint base;
    private final Tokenizer tokenizer;
    private final ClassificationData data;
    private final BertConfig config;
    private final SequenceClassifier model;
    private final ParallelClassifier parallel; // model as this rank runs it

    public BertClassification(MegalithConfig cfg, Configuration hadoop, Placement placement)
            throws IOException {
        this.cfg = cfg;
        MegalithConfig.Data d = cfg.data();
        MegalithConfig.Model m = cfg.model();
        String init = cfg.checkpoint().initFrom();
        this.base = init == null || init.isBlank() ? null : BaseCheckpoint.read(init, hadoop);
        // a run of this family (config validation gives classification to bert only)
        if (base != null && !cfg.sameFamily(base.state().family())) {
            throw new IllegalArgumentException("checkpoint.init_from " + init + " holds a model.family "
                    + base.state().family() + " checkpoint; BERT classification starts from a bert run");
        }
        String content = new String(RunDirFs.readFully(d.path(), hadoop), StandardCharsets.UTF_8);
        boolean speakers = "speakers".equals(d.task());
        this.tokenizer = base != null ? Tokenizers.fromBytes(base.tokenizer()) : fit(d, content, speakers);
        this.data = speakers
                ? ClassificationData.speakers(content, d.speakers(), tokenizer, m.blockSize(), d.heldOutFraction(), cfg.seed())
                : ClassificationData.tsv(content, tokenizer, m.blockSize(), d.heldOutFraction(), cfg.seed());
        if (data.pairs() && m.typeVocabSize() < 2) {
            throw new IllegalArgumentException(d.path() + " holds sentence pairs (token types 0 and 1), but "
                    + "model.type_vocab_size is " + m.typeVocabSize() + ": set it to 2 (BERT's)");
        }
        long pad = tokenizer.vocabSize();
        // the same specials and max positions as masked-LM pre-training (family/segment/SegmentRun), no NSP head
        this.config = new BertConfig((int) pad + 4, m.blockSize() + 1, m.typeVocabSize(), m.nLayer(), m.nHead(),
                m.nEmbd(), m.dropout(), m.bias(), m.preLn(), false, pad, cfg.finetune().loraConfig());
        this.model = new SequenceClassifier(config, data.labels().size());
        this.parallel = BertPlan.apply(model, placement);
    }

    /**
     * Applies the {@code finetune} section: {@link io.megalith.core.finetune.Freezing} over the encoder, while the
     * classifier head and the pooler train even under LoRA (the head is new, and an MLM-only base never trained the
     * pooler), unless a {@code finetune.freeze} prefix names them.
     */
    public void applyFinetune(MegalithConfig.Finetune finetune) {
        List<Parameter> encoder = new ArrayList<>();
        for (Parameter p : model.parameters()) {
            boolean head = p.name().startsWith(SequenceClassifier.HEAD + ".") || p.name().startsWith("pooler.");
            if (!head) {
                encoder.add(p);
            } else if (finetune.freeze().stream().anyMatch(p.name()::startsWith)) {
                p.freeze();
            }
        }
        Freezing.apply(encoder, finetune);
    }

    /** A scratch run's tokenizer, fitted on the labeled texts. */
    private static Tokenizer fit(MegalithConfig.Data d, String content, boolean speakers) {
        String texts = ClassificationData.texts(content, speakers);
        return "bpe".equals(d.tokenizer()) ? BpeTokenizer.train(texts, d.bpeVocabSize()) : CharTokenizer.fit(texts);
    }

    public SequenceClassifier model() {
        return model;
    }

    public ClassificationData data() {
        return data;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The encoder's shape (with the run's LoRA adapters). */
    public BertConfig config() {
        return config;
    }

    /**
     * What a resume must find again: the encoder's shape (no dropout), the labels, and for sentence pairs that they
     * are pairs (a head trained on pairs means nothing on single texts; one-segment runs keep their old string).
     */
    public String shape() {
        return config.withDropout(0) + " classifier " + data.labels() + (data.pairs() ? " sentence pairs" : "");
    }

    /** The chain's shape, for gradient buckets. */
    public List<Segment> plan() {
        return parallel.segments(null, null, 0, 0, null, 1f);
    }

    /** Global rows [first, first + count) of a step as a {@link Part}. */
    public Part part(long step, int first, int count) {
        ClassificationData.Batch b = data.train(step, first, count);
        return new Part() {
            @Override
            public long scored() {
                return b.batch(); // one label per sequence
            }

            @Override
            public long tokens() {
                return b.ids().length;
            }

            @Override
            public int rows() {
                return b.batch();
            }

            @Override
            public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
                    SegmentedPass.Recompute recompute, Communicator tp) {
                // a mean over the step's sequences: this part's mean weighted by its share of them
                float w = (float) ((double) b.batch() / stepRows);
                NDManager m = ctx.manager();
                return SegmentedPass.run(parallel.segments(b.ids(), b.segments(), b.labels(), b.batch(), b.seqLen(), m, w),
                        SequenceClassifier.inputIds(m, b.ids(), b.batch(), b.seqLen()), ctx, 1f, hooks, recompute,
                        tp);
            }
        };
    }

    /**
     * Loads the base's backbone into a fresh run (every rank: a collective under tensor parallelism): every parameter
     * but the classifier head and LoRA adapters comes from the base, which must hold it with the same shape; the
     * base's NSP head is ignored. Returns how many tensors were loaded (0 without init_from).
     */
    public int loadBase(Trainer trainer) {
        if (base == null) {
            return 0;
        }
        Map<String, HostTensor> full = new LinkedHashMap<>(trainer.fullParameters());
        int loaded = 0;
        for (Map.Entry<String, HostTensor> e : full.entrySet()) {
            String name = e.getKey();
            if (name.startsWith(SequenceClassifier.HEAD + ".") || name.endsWith("." + LoraLinear.A)
                    || name.endsWith("." + LoraLinear.B)) {
                continue; // fresh: the head, and adapters (B = 0: the base's function)
            }
            HostTensor t = base.weights().get(name);
            if (t == null) {
                throw new IllegalArgumentException("checkpoint.init_from " + base.source() + " (step " + base.step()
                        + ") holds no tensor " + name + ": not a BERT of this shape (base: " + base.state().familyModel()
                        + ")");
            }
            if (!Arrays.equals(t.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException("checkpoint.init_from " + base.source() + ": tensor " + name
                        + " has shape " + Arrays.toString(t.shape()) + ", this model's is "
                        + Arrays.toString(e.getValue().shape()) + "; set model.n_layer / n_head / n_embd / block_size"
                        + " / pre_ln / type_vocab_size / bias as the base run (base: " + base.state().familyModel() + ")");
            }
            e.setValue(t);
            loaded++;
        }
        trainer.loadFullParameters(full);
        return loaded;
    }

    /** The base this run starts from, or null. */
    public BaseCheckpoint base() {
        return base;
    }

    /** Held-out loss and accuracy of a one-rank copy of {@code full} (the leader, after training). */
    public Eval evaluate(Map<String, HostTensor> full, NDManager manager) {
        return evaluate(config, full, manager);
    }

    /** The same evaluation of a merged state dict (LoRA adapters folded in) by the classifier built without LoRA. */
    public Eval evaluateMerged(Map<String, HostTensor> merged, NDManager manager) {
        return evaluate(config.withLora(LoraConfig.NONE), merged, manager);
    }

    /** Elements that train: the parameters {@link #applyFinetune} left unfrozen. */
    public long trainableElements() {
        return model.parameters().stream().filter(p -> !p.frozen()).mapToLong(Parameter::numel).sum();
    }

    private Eval evaluate(BertConfig config, Map<String, HostTensor> full, NDManager manager) {
        SequenceClassifier one = new SequenceClassifier(config, data.labels().size());
        int n = data.heldOutSize();
        int chunk = Math.max(1, cfg.train().batchSize());
        double lossSum = 0;
        int hits = 0;
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            JniUtils.setGradMode(false);
            for (int from = 0; from < n; from += chunk) {
                ClassificationData.Batch b = data.heldOut(from, chunk);
                try (NDScope scope = new NDScope(); NDManager mm = manager.newSubManager()) {
                    ForwardContext ctx = ForwardContext.inference(mm);
                    lossSum += b.batch() * one.loss(b.ids(), b.segments(), b.labels(), b.batch(), b.seqLen(), ctx).getFloat();
                    int[] p = one.predict(b.ids(), b.segments(), b.batch(), b.seqLen(), ctx);
                    for (int i = 0; i < p.length; i++) {
                        hits += p[i] == b.labels()[i] ? 1 : 0;
                    }
                }
            }
        }
        return new Eval(lossSum / n, (double) hits / n, data.majorityBaseline(), n);
    }
}
