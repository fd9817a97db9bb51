package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
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
import io.megalith.core.finetune.Freezing;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.generate.TextSamples;
import io.megalith.core.lora.Lora;
import io.megalith.core.model.Gpt;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.model.GptConfig;
import io.megalith.core.moe.MoeStats;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.pipeline.PipelineSchedule;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.eval.AdditionAccuracy;
import io.megalith.core.train.eval.PairAccuracy;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.outputs.LoraOutputs;
import io.megalith.core.train.report.LossChart;
import io.megalith.core.train.report.MetricsLog;
import io.megalith.core.train.report.TrainingProgress;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One training run on one rank, from config to trained model: resume from the latest complete
 * checkpoint of {@code run.dir} (or start fresh), train to {@code train.max_steps} with evaluation,
 * metrics, a loss chart and checkpoints along the way, then print samples.
 */
public final class TrainingRun implements RankRun {
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
    private final RunDirFs runDir;
    private final CheckpointStore checkpoints;
    private final NDManager manager;
    private final TrainingData data;
    private final Gpt model;
    private final ModelParameters params;
    private final Trainer trainer;
    private final ShardedCheckpointer checkpointer;
    private final long startStep;
    private final boolean leader;
    private final BaseRun base; // checkpoint.init_from as a run directory, else null

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

    public void onStep(StepListener listener) {
        this.stepListener = listener;
    }

    public TrainingRun(MegalithConfig cfg, Configuration hadoop, PrintStream console) throws IOException {
        this(cfg, hadoop, console, new SingleRankCommunicator(), true);
    }

    /**
     * One rank of a data-parallel job: every rank trains on its share of each batch through
     * {@code dataParallel}; only the {@code leader} (global rank 0) writes to run.dir: config, tokenizer,
     * metrics, loss chart, checkpoints (with data parallelism every rank holds the same model).
     */
    public TrainingRun(MegalithConfig cfg, Configuration hadoop, PrintStream console, Communicator dataParallel,
            boolean leader) throws IOException {
        this(cfg, hadoop, console, dataParallel, leader, null);
    }

    /**
     * As above, reading text from {@code preparedData}, a token data set prepared once by the launcher
     * (Spark tokenizes the input into shards), instead of tokenizing data.path on every rank.
     */
    public TrainingRun(MegalithConfig cfg, Configuration hadoop, PrintStream console, Communicator dataParallel,
            boolean leader, String preparedData) throws IOException {
        this(cfg, hadoop, console, dataParallel, new SingleRankCommunicator(), leader, preparedData);
    }

    /** One rank of a data- and tensor-parallel job (its groups from the device mesh). */
    public TrainingRun(MegalithConfig cfg, Configuration hadoop, PrintStream console, Communicator dataParallel,
            Communicator tensorParallel, boolean leader, String preparedData) throws IOException {
        this(cfg, hadoop, console, new RankGroups(dataParallel, tensorParallel, new SingleRankCommunicator("pp", 0), null),
                leader, preparedData);
    }

    /** One rank of a 3D (data x tensor x pipeline parallel) job, with its groups from the device mesh. */
    public TrainingRun(MegalithConfig cfg, Configuration hadoop, PrintStream console, RankGroups groups, boolean leader,
            String preparedData) throws IOException {
        Communicator dataParallel = groups.dataParallel();
        this.cfg = cfg;
        this.leader = leader;
        this.hadoop = hadoop;
        this.console = console;
        Torch.load(cfg.runtime().threads());
        this.runDir = RunDirFs.of(cfg.run().dir(), hadoop);
        this.checkpoints = new CheckpointStore(cfg.run().dir(), hadoop, cfg.checkpoint().keepLast());
        // the newest checkpoint's state and tokenizer; its tensors are read once the model exists
        Optional<ShardedCheckpointer.Restored> latest = ShardedCheckpointer.peekLatest(checkpoints);
        RunState resumed = latest.map(ShardedCheckpointer.Restored::state).orElse(null);
        if (resumed != null && resumed.model() == null) {
            throw new IllegalStateException("run.dir " + cfg.run().dir() + " holds checkpoints of a model.family "
                    + resumed.family() + " run (" + resumed.familyModel() + "), not a GPT's; use another run.dir or "
                    + "model.family " + resumed.family());
        }
        byte[] checkpointTokenizer = latest.map(ShardedCheckpointer.Restored::tokenizer).orElse(null);
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
        byte[] tokenizerBytes = resumed != null ? checkpointTokenizer : base != null ? base.tokenizer()
                : !initTokenizer.isEmpty() ? RunDirFs.readFully(initTokenizer, hadoop) : null;
        Tokenizer tokenizer = tokenizerBytes != null ? Tokenizers.fromBytes(tokenizerBytes) : null;
        this.data = preparedData != null && "text".equals(cfg.data().task())
                ? openPrepared(preparedData, tokenizerBytes)
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
        this.params = Trainer.createParameters(cfg, parallel, manager, groups);
        parallel.initConstants(manager);
        this.trainer = new Trainer(cfg, parallel, params, data, manager, groups);
        this.checkpointer = new ShardedCheckpointer(checkpoints, groups, trainer, model, cfg.parallel().ep(),
                cfg.zero().stage(), cfg.checkpoint().async(), cfg.checkpoint().commitTimeoutMillis());
        Optional<ShardedCheckpointer.Restored> restored = resumed != null
                ? checkpointer.restore(latest.get().step()) : Optional.empty();
        if (restored.isPresent() && !Arrays.equals(restored.get().tokenizer(), checkpointTokenizer)) {
            throw new IllegalStateException("checkpoint step " + restored.get().step() + " in " + cfg.run().dir()
                    + " has another tokenizer than step " + latest.get().step() + "; delete the newer checkpoint");
        }
        resumed = restored.map(ShardedCheckpointer.Restored::state).orElse(null);
        this.startStep = resumed != null ? resumed.step() : 0;
        if (resumed == null && !cfg.checkpoint().initFrom().isEmpty()) {
            initFrom(cfg.checkpoint().initFrom());
        }
        if (resumed == null && leader) {
            runDir.writeAtomically(CONFIG_FILE, ConfigLoader.toYaml(cfg).getBytes(StandardCharsets.UTF_8));
            runDir.writeAtomically(TOKENIZER_FILE, Tokenizers.toBytes(data.tokenizer()));
        }
    }

    public long startStep() {
        return startStep;
    }

    public Gpt model() {
        return model;
    }

    public TrainingData data() {
        return data;
    }

    /** Trains to train.max_steps. */
    public Summary run() throws IOException {
        return run(cfg.train().maxSteps());
    }

    /** Trains until {@code stopAt} completed steps (at most max_steps): a stop before the end simulates a crash. */
    public Summary run(long stopAt) throws IOException {
        MegalithConfig.Train t = cfg.train();
        long end = Math.min(stopAt, t.maxSteps());
        console.printf("megalith: %s%n", data.describe());
        int workers = cfg.runtime().workers();
        console.printf("megalith: GPT %d layers, %d heads, %d wide, context %d, vocab %d: %,d parameters; %s%n",
                cfg.model().nLayer(), cfg.model().nHead(), cfg.model().nEmbd(), cfg.model().blockSize(),
                model.config().vocabSize(), params.numel(), workers == 1 ? Torch.threads() + " libtorch thread(s)"
                        : workers + " workers of " + Torch.threads() + " libtorch thread(s) each");
        if (startStep > 0) {
            console.printf("megalith: resuming %s from step %d%n", cfg.run().dir(), startStep);
        }
        double lastLoss = Double.NaN;
        double valLoss = Double.NaN;
        Double exactMatch = null;
        long trainNanos = 0;
        long trainTokens = 0;
        try (MetricsLog metrics = leader
                        ? MetricsLog.openForResume(cfg.run().dir(), hadoop, startStep == 0 ? 0 : startStep + 1) : null;
                TrainingProgress progress = new TrainingProgress(cfg.run().name(), startStep, t.maxSteps(), console)) {
            if (startStep == 0 && end > 0) {
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", 0L);
                valLoss = evaluate(rec);
                exactMatch = (Double) rec.get("exact_match");
                if (leader) {
                    metrics.write(rec);
                }
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
                    rec.put("bubble_theory", PipelineSchedule.bubble(cfg.parallel().pp(),
                            t.gradAccum()));
                }
                rec.put("rss_mib", Memory.residentMiB());
                rec.put("heap_mib", Memory.javaHeapMiB());
                boolean evalDue = (t.evalEvery() > 0 && done % t.evalEvery() == 0) || done == t.maxSteps();
                if (evalDue) {
                    valLoss = evaluate(rec);
                    exactMatch = (Double) rec.get("exact_match");
                    progress.message(evalLine(done, s.loss(), valLoss, exactMatch));
                }
                progress.update(done, s.loss(), tokensPerSec);
                try {
                    stepListener.stepDone(done);
                } catch (IOException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                long[] mem = trainer.memoryBytes();
                rec.put("mem_params_bytes", mem[0]);
                rec.put("mem_grads_bytes", mem[1]);
                rec.put("mem_optimizer_bytes", mem[2]);
                long[] held = trainer.heldBytes(); // rank 0's, measured: a leak shows even when ranks share a JVM
                rec.put("tensor_mib", held[0] / (1024.0 * 1024.0));
                rec.put("state_mib", held[1] / (1024.0 * 1024.0));
                rec.put("direct_mib", Memory.directBytes() / (1024.0 * 1024.0));
                ShardedCheckpointer.Timing ckpt = checkpointer.lastTiming();
                if (ckpt != null) { // the last completed save
                    rec.put("ckpt_blocking_ms", ckpt.blockingMs());
                    rec.put("ckpt_hidden_frac", ckpt.hiddenFraction());
                }
                if (leader) {
                    metrics.write(rec);
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
        if (leader && end >= t.maxSteps() && cfg.finetune().loraConfig().enabled()) {
            LoraOutputs.write(cfg, hadoop, checkpoints, LoraCheck.gpt(model.config(), cfg.finetune().loraConfig(),
                    data.validation(0, 4), manager), console);
        }
        if (end == startStep && startStep >= t.maxSteps()) {
            console.printf("megalith: %s is already trained to step %d%n", cfg.run().dir(), startStep);
            Map<String, Object> rec = new LinkedHashMap<>();
            valLoss = evaluate(rec);
            exactMatch = (Double) rec.get("exact_match");
        }
        List<String> samples = end >= t.maxSteps() ? samples() : List.of();
        double seconds = trainNanos / 1e9;
        return new Summary(startStep, Math.max(end, startStep), lastLoss, valLoss, exactMatch, samples,
                seconds > 0 ? trainTokens / seconds : 0, seconds);
    }

    /** The held-out loss (and exact match where the task has one), all on one gathered model. */
    private double evaluate(Map<String, Object> rec) {
        return trainer.withFullModel(full -> {
            double val = trainer.validationLoss(full, cfg.train().evalBatches());
            rec.put("val_loss", val);
            if (data instanceof PairsData pairs) {
                rec.put("answer_loss", val); // the validation loss of the pairs task is on held-out answers only
                rec.put("exact_match", pairAccuracy(full, pairs, 0).accuracy());
            }
            if (data instanceof AdditionData addition) {
                rec.put("exact_match",
                        AdditionAccuracy.evaluate(full, addition, manager, cfg.data().evalPairs(), 0).accuracy());
            }
            return val;
        });
    }

    private static String evalLine(long step, double loss, double val, Double exact) {
        String line = String.format("step %d: train loss %.4f, val loss %.4f", step, loss, val);
        return exact == null ? line : line + String.format(", exact match %.1f%%", exact * 100);
    }

    private void chart() {
        try {
            LossChart.writeToRunDir(cfg.run().dir(), hadoop, cfg.run().name(), MetricsLog.read(cfg.run().dir(), hadoop),
                    cfg.report().lossScale());
        } catch (IOException | RuntimeException e) {
            LOG.warn("could not draw {}/loss.png: {}", cfg.run().dir(), e.toString());
        }
    }

    /** Samples to show at the end: generated text, or worked held-out additions. */
    public List<String> samples() {
        return trainer.withFullModel(this::samplesOf);
    }

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

    /**
     * Every rank calls this: each snapshots and writes its shard (in the background when checkpoint.async), world
     * rank 0 adds the training state and tokenizer and commits (see {@link ShardedCheckpointer}).
     */
    private void save(long step) throws IOException {
        RunState state = new RunState(RunState.FORMAT_VERSION, step, cfg.seed(), trainer.optimizer().stepCount(), step,
                model.config(), data.tokenizer().kind(), ConfigLoader.toYaml(cfg));
        Map<String, byte[]> blobs = new LinkedHashMap<>();
        blobs.put(RunStateCodec.FILE, RunStateCodec.encode(state));
        blobs.put(TOKENIZER_FILE, Tokenizers.toBytes(data.tokenizer()));
        checkpointer.save(step, blobs);
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
                        + Arrays.toString(want));
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

    /** The model section must describe the base's shape (its weights are loaded by name and shape). */
    private void checkBase(BaseRun b, GptConfig now) throws InvalidInputException {
        GptConfig s = b.state().model();
        GptConfig a = new GptConfig(s.vocabSize(), s.blockSize(), s.nLayer(), s.nHead(), s.nEmbd(), 0, s.bias(), s.moe());
        GptConfig n = new GptConfig(now.vocabSize(), now.blockSize(), now.nLayer(), now.nHead(), now.nEmbd(), 0,
                now.bias(), now.moe());
        if (!a.equals(n)) {
            throw new InvalidInputException("checkpoint.init_from " + b.location() + " is a GPT with n_layer "
                    + s.nLayer() + ", n_head " + s.nHead() + ", n_embd " + s.nEmbd() + ", block_size " + s.blockSize()
                    + ", bias " + s.bias() + ", vocab " + s.vocabSize() + (s.moe().enabled() ? ", MoE " + s.moe() : "")
                    + "; the config asks for " + now + ": set model.n_layer=" + s.nLayer() + " model.n_head=" + s.nHead()
                    + " model.n_embd=" + s.nEmbd() + " model.block_size=" + s.blockSize() + " model.bias=" + s.bias());
        }
    }

    private static void checkCompatible(GptConfig saved, GptConfig now) {
        GptConfig a = new GptConfig(saved.vocabSize(), saved.blockSize(), saved.nLayer(), saved.nHead(), saved.nEmbd(), 0,
                saved.bias(), saved.moe());
        GptConfig b = new GptConfig(now.vocabSize(), now.blockSize(), now.nLayer(), now.nHead(), now.nEmbd(), 0, now.bias(),
                now.moe());
        if (!a.equals(b)) {
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
        checkpointer.close();
        trainer.close();
        data.close();
        manager.close();
    }
}
