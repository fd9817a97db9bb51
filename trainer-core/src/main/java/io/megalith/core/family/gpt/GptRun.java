package io.megalith.core.family.gpt;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.AdditionData;
import io.megalith.core.data.PairsData;
import io.megalith.core.data.TextData;
import io.megalith.core.data.TrainingData;
import io.megalith.core.data.shards.ShardedTextData;
import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.distill.Teacher;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.generate.TextSamples;
import io.megalith.core.lora.Lora;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.moe.MoeStats;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.prune.StructuredPruning;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.pipeline.PipelineSchedule;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.BaseRun;
import io.megalith.core.train.Memory;
import io.megalith.core.train.RankModel;
import io.megalith.core.train.Trainer;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.eval.AdditionAccuracy;
import io.megalith.core.train.eval.PairAccuracy;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.report.StepReport;
import io.megalith.core.train.report.TrainingProgress;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The GPT's part of a {@link TrainingRun} on one rank: the one-rank {@link Gpt} split for this rank by its
 * {@link GptPlan}, its data (text, addition, pairs; prepared shards), the {@link Trainer} (DP/TP/PP/EP/SP, ZeRO 0-3),
 * a fine-tune's base (checkpoint.init_from), evaluation on a gathered model and samples. A progress bar shows the
 * steps; evaluations go into the step's metrics record.
 */
public final class GptRun implements RankModel {
    private static final Logger LOG = LoggerFactory.getLogger(GptRun.class);

    private final MegalithConfig cfg;
    private final Configuration hadoop;
    private final PrintStream console;
    private final NDManager manager;
    private final TrainingData data;
    private final Gpt model;
    private final ModelParameters params;
    private final GptParts parts; // the model and its data as the trainer runs them
    private final Trainer trainer;
    private final BaseRun base; // checkpoint.init_from as a run directory, else null
    private final Teacher teacher; // distill.teacher, frozen, else null

    /** Builds the GPT of {@code c.cfg()} for its rank, checking a checkpoint to resume is a GPT's of the same shape. */
    public GptRun(Context c) throws IOException {
        MegalithConfig cfg = c.cfg();
        RankGroups groups = c.groups();
        this.cfg = cfg;
        this.hadoop = c.hadoop();
        this.console = c.console();
        RunState resumed = c.latest().map(ShardedCheckpointer.Restored::state).orElse(null);
        if (resumed != null && resumed.model() == null) {
            throw new IllegalStateException("run.dir " + cfg.run().dir() + " holds checkpoints of a model.family "
                    + resumed.family() + " run (" + resumed.familyModel() + "), not a GPT's; use another run.dir or "
                    + "model.family " + resumed.family());
        }
        byte[] checkpointTokenizer = c.latest().map(ShardedCheckpointer.Restored::tokenizer).orElse(null);
        // a fine-tune of a `megalith train` run: its tokenizer (the weights mean its token ids) and shape
        // (a resumed run has its own weights and tokenizer: it reads the base only for the built-in pairs' words)
        boolean baseNeeded = resumed == null || (cfg.data().builtin() != null && cfg.data().path() == null);
        this.base = cfg.checkpoint().initFrom().isEmpty() || !baseNeeded ? null
                : BaseRun.open(cfg.checkpoint().initFrom(), hadoop).orElse(null);
        String initTokenizer = cfg.checkpoint().initTokenizer();
        if (base != null && !initTokenizer.isEmpty()) {
            throw new InvalidInputException("checkpoint.init_tokenizer: checkpoint.init_from " + base.location() + " is "
                    + "a run directory, which carries its own tokenizer; remove checkpoint.init_tokenizer");
        }
        this.teacher = Teacher.load(cfg.distill(), hadoop);
        byte[] tokenizerBytes = resumed != null ? checkpointTokenizer : base != null ? base.tokenizer()
                : !initTokenizer.isEmpty() ? RunDirFs.readFully(initTokenizer, hadoop)
                : teacher != null ? teacher.tokenizer() : null;
        if (teacher != null) { // a student reads the token ids its teacher was trained on
            teacher.requireTokenizer(tokenizerBytes, resumed != null ? "the checkpoint in " + cfg.run().dir()
                    : base != null ? "checkpoint.init_from " + base.location() : "checkpoint.init_tokenizer");
        }
        Tokenizer tokenizer = tokenizerBytes != null ? Tokenizers.fromBytes(tokenizerBytes) : null;
        this.data = c.preparedData() != null && "text".equals(cfg.data().task())
                ? openPrepared(c.preparedData(), tokenizerBytes)
                : buildData(tokenizer);
        GptConfig gptConfig = GptConfig.from(cfg.model(), data.tokenizer().vocabSize());
        if (resumed != null) {
            checkCompatible(resumed.model(), gptConfig);
        } else if (base != null) {
            checkBase(base, gptConfig);
        }
        this.manager = Torch.newManager();
        // the whole one-rank model, split for this rank by the GPT's plan
        ParallelGpt parallel = GptPlan.apply(new Gpt(gptConfig, cfg.finetune().loraConfig()),
                Placement.of(groups, cfg.parallel().sequenceParallel()));
        this.model = parallel.model();
        if (cfg.finetune().active()) {
            // before the layout: frozen parameters get no gradient, communication or optimizer state
            Freezing.apply(model.parameters(), cfg.finetune());
        }
        // laid out in the order backward completes gradients (buckets reduced while backward runs), and
        // partitioned over the data-parallel group from ZeRO stage 2
        this.params = GptParts.createParameters(cfg, parallel, manager, groups);
        parallel.initConstants(manager);
        this.parts = new GptParts(parallel, data, teacher);
        this.trainer = new Trainer(cfg, parts, params, manager, groups);
    }

    public Gpt model() {
        return model;
    }

    public TrainingData data() {
        return data;
    }

    @Override
    public Trainer trainer() {
        return trainer;
    }

    @Override
    public Parameter tiedParameter() {
        return model.tokenEmbedding();
    }

    @Override
    public int expertParallel() {
        return cfg.parallel().ep();
    }

    @Override
    public void checkRestored(ShardedCheckpointer.Restored latest, ShardedCheckpointer.Restored restored) {
        if (!Arrays.equals(restored.tokenizer(), latest.tokenizer())) {
            throw new IllegalStateException("checkpoint step " + restored.step() + " in " + cfg.run().dir()
                    + " has another tokenizer than step " + latest.step() + "; delete the newer checkpoint");
        }
    }

    @Override
    public void startFresh() throws IOException {
        if (!cfg.checkpoint().initFrom().isEmpty()) {
            initFrom(cfg.checkpoint().initFrom());
        }
    }

    @Override
    public Map<String, byte[]> runFiles() throws IOException {
        return Map.of(TrainingRun.TOKENIZER_FILE, Tokenizers.toBytes(data.tokenizer()));
    }

    @Override
    public RunState state(long step) {
        return new RunState(RunState.FORMAT_VERSION, step, cfg.seed(), trainer.optimizerSteps(), step, model.config(),
                data.tokenizer().kind(), ConfigLoader.toYaml(cfg));
    }

    @Override
    public byte[] tokenizer() throws IOException {
        return Tokenizers.toBytes(data.tokenizer());
    }

    @Override
    public void describe(PrintStream out) {
        out.printf("megalith: %s%n", data.describe());
        int workers = cfg.runtime().workers();
        out.printf("megalith: GPT %d layers, %d heads, %d wide, context %d, vocab %d: %,d parameters; %s%n",
                cfg.model().nLayer(), cfg.model().nHead(), cfg.model().nEmbd(), cfg.model().blockSize(),
                model.config().vocabSize(), params.numel(), workers == 1 ? Torch.threads() + " libtorch thread(s)"
                        : workers + " workers of " + Torch.threads() + " libtorch thread(s) each");
        if (teacher != null) {
            GptConfig t = teacher.model().config();
            out.printf("megalith: distilled from %s: a frozen GPT of %d layers, %d wide (temperature %s, alpha %s)%n",
                    cfg.distill().teacher(), t.nLayer(), t.nEmbd(), cfg.distill().temperature(), cfg.distill().alpha());
        }
    }

    @Override
    public StepReport progress(long startStep, long maxSteps) {
        return new TrainingProgress(cfg.run().name(), startStep, maxSteps, console);
    }

    @Override
    public void stepFigures(Map<String, Object> rec) {
        MoeStats moe = trainer.moeStats();
        if (moe != null) { // routing of the whole step, all MoE layers and ranks
            rec.put("moe_aux_loss", moe.auxLoss()); // load balancing, 1.0 = balanced (before its coefficient)
            rec.put("moe_z_loss", moe.zLoss()); // router z-loss (before its coefficient)
            rec.put("moe_dropped", moe.dropFraction()); // fraction of (token, choice) assignments dropped
            rec.put("moe_expert_tokens_min", moe.minExpertTokens()); // over experts of every MoE layer
            rec.put("moe_expert_tokens_max", moe.maxExpertTokens());
        }
        if (cfg.parallel().pp() > 1) {
            rec.put("bubble", trainer.bubble()); // this stage's idle share of the step (rank 0: the first stage)
            rec.put("bubble_theory", PipelineSchedule.bubble(cfg.parallel().pp(), cfg.train().gradAccum()));
        }
        rec.put("rss_mib", Memory.residentMiB());
        rec.put("heap_mib", Memory.javaHeapMiB());
    }

    @Override
    public void memoryFigures(Map<String, Object> rec) {
        long[] mem = trainer.memoryBytes();
        rec.put("mem_params_bytes", mem[0]);
        rec.put("mem_grads_bytes", mem[1]);
        rec.put("mem_optimizer_bytes", mem[2]);
        long[] held = trainer.heldBytes(); // rank 0's, measured: a leak shows even when ranks share a JVM
        rec.put("tensor_mib", held[0] / (1024.0 * 1024.0));
        rec.put("state_mib", held[1] / (1024.0 * 1024.0));
        rec.put("direct_mib", Memory.directBytes() / (1024.0 * 1024.0));
    }

    @Override
    public boolean evaluatesAtStart() {
        return true;
    }

    @Override
    public boolean evaluationInStepRecord() {
        return true;
    }

    /**
     * The held-out loss (and exact match where the task has one), all on one gathered model, on every rank; at the
     * end also the samples. The console line reports a step just trained (none when {@code loss} is null).
     */
    @Override
    public Evaluation evaluate(long step, Double loss, boolean last) {
        return parts.withFullModel(trainer, full -> {
            Map<String, Object> rec = new LinkedHashMap<>();
            double val = parts.validationLoss(trainer, full, cfg.train().evalBatches());
            rec.put("val_loss", val);
            if (data instanceof PairsData pairs) {
                rec.put("answer_loss", val); // the validation loss of the pairs task is on held-out answers only
                rec.put("exact_match", pairAccuracy(full, pairs, 0).accuracy());
            }
            if (data instanceof AdditionData addition) {
                rec.put("exact_match",
                        AdditionAccuracy.evaluate(full, addition, manager, cfg.data().evalPairs(), 0).accuracy());
            }
            String line = loss == null ? null : evalLine(step, loss, val, (Double) rec.get("exact_match"));
            return new Evaluation(rec, line, last ? samplesOf(full) : null);
        });
    }

    private static String evalLine(long step, double loss, double val, Double exact) {
        String line = String.format("step %d: train loss %.4f, val loss %.4f", step, loss, val);
        return exact == null ? line : line + String.format(", exact match %.1f%%", exact * 100);
    }

    /** Samples to show at the end: generated text, or worked held-out additions. */
    private List<String> samplesOf(Gpt model) {
        MegalithConfig.Generate g = cfg.generate();
        if (data instanceof AdditionData addition) {
            return AdditionAccuracy.evaluate(model, addition, manager, 8, 8).examples();
        }
        if (data instanceof PairsData pairs) {
            return pairAccuracy(model, pairs, 8).examples();
        }
        if (g.samples() == 0 || g.maxNewTokens() == 0) {
            return List.of();
        }
        return TextSamples.of(model, data.tokenizer(), manager, g, cfg.seed());
    }

    /** Greedy exact match on (up to data.eval_pairs of) the held-out pairs. */
    private PairAccuracy.Result pairAccuracy(Gpt full, PairsData pairs, int examples) {
        List<String[]> held = pairs.heldOutPairs();
        held = held.subList(0, Math.min(held.size(), cfg.data().evalPairs()));
        return PairAccuracy.evaluate(full, pairs.tokenizer(), held, pairs.endOfAnswer(), manager, examples);
    }

    @Override
    public LoraCheck loraCheck() {
        return LoraCheck.gpt(model.config(), cfg.finetune().loraConfig(), data.validation(0, 4), manager);
    }

    /**
     * checkpoint.init_from: weights trained elsewhere (names and shapes of the one-rank model), fresh optimizer.
     * LoRA adapters the weights lack keep their fresh init (B = 0: the run starts from exactly the base's function);
     * a base that is itself a LoRA fine-tune has its adapters merged first.
     */
    private void initFrom(String location) throws IOException {
        Map<String, HostTensor> weights = base != null ? base.model()
                : SafetensorsWeights.read(location, hadoop);
        if (base != null && base.config().finetune().loraConfig().enabled()) {
            weights = Lora.merged(weights, base.config().finetune().loraConfig().scale());
        }
        boolean freshAdapters = false;
        for (Parameter p : params.parameters()) {
            HostTensor t = weights.get(p.name());
            if (t == null && Lora.isAdapter(p.name())) {
                freshAdapters = true;
                continue;
            }
            long[] want = p.sharding().kind() == Parameter.Sharding.Kind.SLICE
                    ? p.sharding().fullShape() : p.shape();
            if (t == null) {
                throw new InvalidInputException("checkpoint.init_from " + location + " has no tensor " + p.name());
            }
            if (!Arrays.equals(t.shape(), want) || t.dtype() != HostTensor.DType.F32) {
                throw new InvalidInputException("checkpoint.init_from " + location + ": tensor " + p.name()
                        + " is " + t.dtype() + Arrays.toString(t.shape()) + ", the model needs F32"
                        + Arrays.toString(want) + prunedShapeHint(weights));
            }
        }
        if (freshAdapters) { // every rank calls this (a collective under TP / ZeRO-3): the adapters' init values
            Map<String, HostTensor> all = new LinkedHashMap<>(trainer.fullParameters());
            weights.forEach((k, v) -> {
                if (all.containsKey(k)) {
                    all.put(k, v);
                }
            });
            weights = all;
        }
        trainer.loadFullParameters(weights);
        LOG.info("Initialised {} parameters from {} (fresh optimizer, step 0)", params.parameters().size(), location);
    }

    /** Weights of a structurally pruned GPT of this run's head size: the model keys that describe their shape. */
    private String prunedShapeHint(Map<String, HostTensor> weights) {
        GptConfig now = model.config();
        try {
            GptConfig theirs = StructuredPruning.shapeOf(now, weights);
            return theirs.equals(now) ? "" : "; the weights are a GPT with " + theirs.nHead() + " heads of "
                    + theirs.headSize() + " and " + theirs.mlpHidden() + " MLP hidden units (structurally pruned?): "
                    + "set model.n_head=" + theirs.nHead() + " model.head_size=" + theirs.headSize()
                    + " model.mlp_hidden=" + theirs.mlpHidden();
        } catch (IllegalArgumentException e) {
            return "";
        }
    }

    /** The model section must describe the base's shape (its weights are loaded by name and shape). */
    private void checkBase(BaseRun b, GptConfig now) throws InvalidInputException {
        GptConfig s = b.state().model();
        if (!s.shape().equals(now.shape())) {
            throw new InvalidInputException("checkpoint.init_from " + b.location() + " is a GPT with n_layer "
                    + s.nLayer() + ", n_head " + s.nHead() + ", n_embd " + s.nEmbd() + ", block_size " + s.blockSize()
                    + ", bias " + s.bias() + ", vocab " + s.vocabSize() + (s.moe().enabled() ? ", MoE " + s.moe() : "")
                    + "; the config asks for " + now + ": set model.n_layer=" + s.nLayer() + " model.n_head=" + s.nHead()
                    + " model.n_embd=" + s.nEmbd() + " model.block_size=" + s.blockSize() + " model.bias=" + s.bias()
                    + (s.pruned() ? " model.head_size=" + s.headSize() + " model.mlp_hidden=" + s.mlpHidden() : ""));
        }
    }

    private static void checkCompatible(GptConfig saved, GptConfig now) {
        if (!saved.shape().equals(now.shape())) {
            throw new IllegalStateException("run.dir holds checkpoints of a different model (" + saved + ") than the "
                    + "config asks for (" + now + "); use another run.dir or the same model settings");
        }
    }

    /** The prepared shards; on resume their tokenizer must be the checkpoint's (else the ids mean other things). */
    private TrainingData openPrepared(String dir, byte[] checkpointTokenizer) throws IOException {
        MegalithConfig.Data d = cfg.data();
        ShardedTextData prepared = ShardedTextData.open(dir, hadoop, d.shardReading(), d.valFraction(), cfg.model().blockSize(), cfg.seed());
        if (checkpointTokenizer != null
                && !Arrays.equals(checkpointTokenizer, Tokenizers.toBytes(prepared.tokenizer()))) {
            prepared.close();
            throw new IllegalStateException("the data prepared in " + dir + " was tokenized with another tokenizer than "
                    + "the checkpoint in " + cfg.run().dir() + " or the base run of checkpoint.init_from (did data.path change?); use the original data or a "
                    + "new run.dir");
        }
        return prepared;
    }

    private TrainingData buildData(Tokenizer fromCheckpoint) throws IOException {
        MegalithConfig.Data d = cfg.data();
        if ("addition".equals(d.task())) {
            return new AdditionData(d.digits(), d.heldOutFraction(), cfg.seed());
        }
        if ("pairs".equals(d.task())) {
            return pairsData(fromCheckpoint);
        }
        String text = new String(RunDirFs.readFully(d.path(), hadoop), StandardCharsets.UTF_8);
        Tokenizer tok = fromCheckpoint;
        if (tok == null) {
            if ("bpe".equals(d.tokenizer())) {
                String train = text.substring(0, (int) Math.round(text.length() * (1 - d.valFraction())));
                tok = BpeTokenizer.train(train, d.bpeVocabSize());
            } else {
                tok = CharTokenizer.fit(text);
            }
        }
        int[] ids;
        try {
            ids = tok.encode(text);
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("data.path " + d.path() + " has text the tokenizer of " + (base != null
                    ? "the base run " + base.location() : "the checkpoint in " + cfg.run().dir()) + " cannot encode ("
                    + e.getMessage() + "); a fine-tune must use the base's token ids: choose a text in its vocabulary", e);
        }
        return new TextData(tok, ids, d.valFraction(), cfg.model().blockSize(), cfg.seed());
    }

    /** The pairs task: data.path's pairs or the built-in ones, in the base's (or checkpoint's) vocabulary. */
    private TrainingData pairsData(Tokenizer tok) throws IOException {
        return PairsData.of(cfg.pairsSource(), tok, base == null ? null : base.config().data().path(), base != null, hadoop);
    }

    @Override
    public void close() {
        trainer.close();
        data.close();
        manager.close();
        if (teacher != null) {
            teacher.close();
        }
    }
}
