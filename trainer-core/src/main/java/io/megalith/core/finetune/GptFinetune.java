package io.megalith.core.finetune;

import ai.djl.ndarray.NDManager;
import io.megalith.core.config.ConfigException;
import io.megalith.core.data.Pairs;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.generate.Generator;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.train.ModuleTrainer;
import io.megalith.core.train.TrainedModel;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;
import org.apache.hadoop.conf.Configuration;

/**
 * GPT fine-tuning on one rank ({@code megalith finetune --config conf/gpt-finetune-*.yaml}): the base is the latest
 * checkpoint of a {@code megalith train} run (through {@link TrainedModel}, so whatever checkpoint format it reads) or
 * a safetensors state dict with GPT names; the task is continued causal LM on a text file or prompt -> answer pairs
 * with the loss on the answer tokens only (a JSONL / TSV file, or the built-in {@code upper}: a word of the base
 * text -> the word in capitals, no files needed). Options: freezing by name prefix or the first N blocks, LoRA
 * adapters (rank, alpha, targets) with only the adapters trained and saved (safetensors with rank/alpha/targets
 * metadata) and merged into a plain GPT state dict. Ends with greedy continuations of a few prompts
 * (greedy for answers, sampled for text).
 *
 * <p>The GPT's shape is stored in the metadata of every model file written here ({@code gpt.n_head}, ...), so a
 * merged or fine-tuned file can be the {@code base.safetensors} of the next fine-tuning.
 */
public final class GptFinetune {
    public static final String ADAPTERS_FILE = "adapters.safetensors";
    public static final String MERGED_FILE = "merged.safetensors";
    public static final String FINETUNED_FILE = "finetuned.safetensors";
    public static final String TOKENIZER_FILE = "tokenizer.json";

    /** Everything a fine-tuning run needs (see {@link GptFinetuneConfig} for the YAML keys). */
    public record Settings(long seed, String baseRun, String baseSafetensors, String baseTokenizer, int baseNHead,
            String task, String path, String builtin, String source, double evalFraction, int maxPairs, int steps,
            int batchSize, double lr, double dropout, List<String> freeze, int freezeBlocks, LoraConfig lora,
            int evalEvery, String outputDir, boolean saveMerged, List<String> prompts, int maxNewTokens, double temperature,
            int topK) {
        public Settings {
            freeze = List.copyOf(freeze);
            prompts = List.copyOf(prompts);
        }
    }

    /** A base model: its shape, weights, tokenizer and (for a run) the text it was trained on. */
    public record Base(GptConfig config, Map<String, HostTensor> state, Tokenizer tokenizer, String dataPath,
            String description) {}


    /** What a run measured and wrote. */
    public record Outcome(double evalLossBefore, double evalLossAfter, double exactBefore, double exactAfter,
            int evalPairs, double firstTrainLoss, double lastTrainLoss, int steps, double seconds, long trainableElements,
            long modelElements, long adapterBytes, long modelBytes, double mergedMaxDiff, List<String> generations,
            Path outputDir) {}

    private GptFinetune() {}

    // ---------------------------------------------------------------------------------------------- the base

    /** Loads the base of {@code s}: a run's latest checkpoint, or a safetensors file with its tokenizer. */
    public static Base loadBase(Settings s, Configuration hadoop, int threads) throws IOException {
        if (s.baseRun() != null) {
            try (TrainedModel trained = TrainedModel.load(s.baseRun(), hadoop, threads)) {
                Map<String, HostTensor> state = new LinkedHashMap<>();
                for (Parameter p : trained.model().parameters()) {
                    state.put(p.name(), HostTensor.ofFloats(p.value().toFloatArray(), p.shape()));
                }
                Tokenizer tok = Tokenizers.fromBytes(Tokenizers.toBytes(trained.tokenizer())); // outlives the model
                return new Base(trained.model().config(), state, tok, trained.config().data().path(),
                        s.baseRun() + " at step " + trained.step());
            }
        }
        io.megalith.core.checkpoint.SafetensorsFile f = ModelFiles.load(Path.of(s.baseSafetensors()));
        Tokenizer tok = Tokenizers.load(Path.of(s.baseTokenizer()));
        GptConfig cfg = shapeOf(f.tensors(), f.metadata(), s.baseNHead(), s.baseSafetensors());
        if (cfg.vocabSize() < tok.vocabSize()) {
            throw new ConfigException(s.baseSafetensors(), "base.tokenizer: " + tok.vocabSize() + " tokens, more than the "
                    + "model's vocabulary of " + cfg.vocabSize() + ": use the tokenizer the weights were trained with");
        }
        return new Base(cfg, f.tensors(), tok, null, s.baseSafetensors());
    }

    /**
     * The GPT shape of a state dict: from {@code gpt.*} metadata when present (files written here), otherwise read
     * off the tensor shapes (wte [V, C], wpe [T, C], blocks.N., ln_f.bias) with {@code nHead} given.
     */
    static GptConfig shapeOf(Map<String, HostTensor> t, Map<String, String> meta, int nHead, String file) {
        HostTensor wte = t.get("wte.weight");
        HostTensor wpe = t.get("wpe.weight");
        if (wte == null || wpe == null) {
            throw new ConfigException(file, "base.safetensors: not a GPT state dict (no wte.weight / wpe.weight)");
        }
        int layers = 0;
        while (t.containsKey("blocks." + layers + ".ln1.weight")) {
            layers++;
        }
        int heads = nHead > 0 ? nHead : meta == null ? 0 : Integer.parseInt(meta.getOrDefault("gpt.n_head", "0"));
        if (heads <= 0) {
            throw new ConfigException(file, "base.n_head: required (the file has no gpt.n_head metadata); set it to the "
                    + "number of attention heads the weights were trained with");
        }
        return new GptConfig((int) wte.shape()[0], (int) wpe.shape()[0], layers, heads, (int) wte.shape()[1], 0.0,
                t.containsKey("ln_f.bias"));
    }

    /** Metadata recording a GPT's shape in its model files. */
    public static Map<String, String> shapeMetadata(GptConfig c) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("gpt.n_head", Integer.toString(c.nHead()));
        m.put("gpt.n_layer", Integer.toString(c.nLayer()));
        m.put("gpt.n_embd", Integer.toString(c.nEmbd()));
        m.put("gpt.block_size", Integer.toString(c.blockSize()));
        m.put("gpt.vocab_size", Integer.toString(c.vocabSize()));
        return m;
    }

    // ---------------------------------------------------------------------------------------------- the task

    /** The prompt -> answer pairs of the task (file or built-in); for causal_lm, null. */
    public static List<String[]> pairs(Settings s, Base base) throws IOException {
        if (!s.task().equals("pairs")) {
            return null;
        }
        List<String[]> pairs = s.builtin() != null ? upperPairs(s, base) : readPairs(Path.of(s.path()));
        if (s.maxPairs() > 0 && pairs.size() > s.maxPairs()) {
            pairs = pairs.subList(0, s.maxPairs());
        }
        if (pairs.size() < 2) {
            throw new ConfigException(s.path(), "task: " + pairs.size() + " prompt/answer pairs; need at least 2");
        }
        return pairs;
    }

    /**
     * The built-in pairs: the distinct lower-case words (3 to 10 letters) of the base's training text (or
     * task.source), each "word: " -> "WORD" ("word " if the tokenizer has no ':'), in a seeded random order; words whose characters the tokenizer lacks,
     * or too long for the model's block_size, are skipped.
     */
    static List<String[]> upperPairs(Settings s, Base base) throws IOException {
        String src = s.source() != null ? s.source() : base.dataPath();
        if (src == null) {
            throw new ConfigException(null, "task.source: required for task.builtin " + s.builtin() + " when the base is "
                    + "a safetensors file (a text file whose words make the pairs)");
        }
        return Pairs.upper(Files.readString(Path.of(src)), base.tokenizer(), base.config().blockSize(), s.seed());
    }

    /** See {@link Pairs#parse}. */
    static List<String[]> readPairs(Path file) throws IOException {
        return Pairs.parse(file.toString(), Files.readString(file));
    }

    /** See {@link Pairs#example}. */
    static Pairs.Example pairExample(Tokenizer tok, String[] pair, int[] end, int blockSize) {
        return Pairs.example(tok, pair, end, blockSize);
    }

    static int[] endOfAnswer(Tokenizer tok) {
        return Pairs.endOfAnswer(tok);
    }

    /** Ids [B, T] and next-token targets (unscored: -1) of {@code batch}, T the longest sequence minus one. */
    static PtBatch batch(List<Pairs.Example> batch) {
        int t = batch.stream().mapToInt(e -> e.tokens().length - 1).max().orElseThrow();
        long[] ids = new long[batch.size() * t];
        long[] targets = new long[batch.size() * t];
        for (int b = 0; b < batch.size(); b++) {
            Pairs.fill(batch.get(b), b, t, ids, targets);
        }
        return new PtBatch(ids, targets, batch.size(), t);
    }

    record PtBatch(long[] ids, long[] targets, int rows, int length) {
        long scored() {
            return Arrays.stream(targets).filter(x -> x >= 0).count();
        }
    }

    // ---------------------------------------------------------------------------------------------- the run

    /** Fine-tunes {@code base} as {@code s} says, writes the output files and returns what it measured. */
    public static Outcome run(Settings s, Base base, NDManager manager, PrintStream out) throws IOException {
        long t0 = System.nanoTime();
        GptConfig b = base.config();
        GptConfig cfg = new GptConfig(b.vocabSize(), b.blockSize(), b.nLayer(), b.nHead(), b.nEmbd(), s.dropout(),
                b.bias(), b.moe());
        Tokenizer tok = base.tokenizer();
        // the data: train / eval examples
        List<Pairs.Example> train = new ArrayList<>();
        List<Pairs.Example> eval = new ArrayList<>();
        List<String[]> evalPairs = new ArrayList<>();
        int[] textTokens = null;
        int trainTextEnd = 0;
        List<String[]> pairs = pairs(s, base);
        int[] end = endOfAnswer(tok);
        if (pairs != null) {
            int nEval = Math.max(1, (int) Math.round(pairs.size() * s.evalFraction()));
            for (int i = 0; i < pairs.size(); i++) {
                Pairs.Example e = pairExample(tok, pairs.get(i), end, cfg.blockSize());
                if (i < nEval) {
                    eval.add(e);
                    evalPairs.add(pairs.get(i));
                } else {
                    train.add(e);
                }
            }
            out.printf("megalith finetune: %d prompt/answer pairs (%d train, %d held out), e.g. %s -> %s%n", pairs.size(),
                    train.size(), eval.size(), show(pairs.get(nEval)[0]), show(pairs.get(nEval)[1]));
        } else {
            textTokens = tok.encode(Files.readString(Path.of(s.path())));
            trainTextEnd = (int) (textTokens.length * (1 - s.evalFraction()));
            int w = cfg.blockSize() + 1;
            if (trainTextEnd < w || textTokens.length - trainTextEnd < w) {
                throw new ConfigException(s.path(), "task.path: " + textTokens.length + " tokens are too few for windows of "
                        + w + " in both the train and the eval part");
            }
            for (int at = trainTextEnd; at + w <= textTokens.length && eval.size() < 64; at += w) {
                eval.add(new Pairs.Example(Arrays.copyOfRange(textTokens, at, at + w), 1));
            }
            out.printf("megalith finetune: continued causal LM on %s: %d tokens (%d train, %d eval windows)%n", s.path(),
                    textTokens.length, trainTextEnd, eval.size());
        }
        // the model: base weights under fresh adapters (B = 0: the base's function), trainable set
        Gpt model = new Gpt(cfg, s.lora());
        Predicate<Parameter> trainable = trainable(s);
        try (ModuleTrainer trainer = new ModuleTrainer(model, trainable, manager, s.seed(),
                new ModuleTrainer.Settings(s.lr(), s.lr() / 10, Math.max(1, s.steps() / 20), s.steps(), 0.01, 0.9, 0.99,
                        1e-8, 1.0))) {
            ParameterStore store = trainer.store();
            model.initConstants(store.manager());
            List<String> fresh = Pretrained.load(store, base.state(), n -> false);
            long modelElements = base.state().entrySet().stream().filter(e -> !Lora.isAdapter(e.getKey()))
                    .mapToLong(e -> e.getValue().numel()).sum();
            out.printf("megalith finetune: base %s (%d layers, %d wide, %,d parameters); %s; training %,d elements (%.2f%%)%n",
                    base.description(), cfg.nLayer(), cfg.nEmbd(), modelElements,
                    s.lora().enabled() ? "LoRA rank " + s.lora().rank() + " alpha " + s.lora().alpha() + " on "
                            + s.lora().targets() + " (" + fresh.size() + " adapter tensors)" : "full fine-tuning",
                    trainer.trainableElements(), 100.0 * trainer.trainableElements() / modelElements);
            double lossBefore = evalLoss(trainer, model, eval);
            double exactBefore = pairs == null ? Double.NaN : exactMatch(model, tok, evalPairs, end, manager, s.seed());
            out.printf("megalith finetune: before: eval loss %.4f%s%n", lossBefore,
                    pairs == null ? "" : String.format(", held-out exact match %.1f%%", 100 * exactBefore));
            double first = Double.NaN;
            double last = Double.NaN;
            double recent = 0;
            int recentN = 0;
            for (int step = 0; step < s.steps(); step++) {
                PtBatch pb = batch(sample(s, step, train, textTokens, trainTextEnd, cfg.blockSize()));
                double l = trainer.step(step, ctx -> model.loss(Ops.longs(ctx.manager(), pb.ids(), pb.rows(), pb.length()),
                        Targets.of(ctx.manager(), pb.targets()), ctx));
                first = step == 0 ? l : first;
                last = l;
                recent += l;
                recentN++;
                if ((step + 1) % s.evalEvery() == 0 || step + 1 == s.steps()) {
                    out.printf("step %5d  train loss %.4f  eval loss %.4f%n", step + 1, recent / recentN,
                            evalLoss(trainer, model, eval));
                    recent = 0;
                    recentN = 0;
                }
            }
            double lossAfter = evalLoss(trainer, model, eval);
            double exactAfter = pairs == null ? Double.NaN : exactMatch(model, tok, evalPairs, end, manager, s.seed());
            double seconds = (System.nanoTime() - t0) / 1e9;
            out.printf("megalith finetune: after %d steps (%.1f s): eval loss %.4f%s%n", s.steps(), seconds, lossAfter,
                    pairs == null ? "" : String.format(", held-out exact match %.1f%%", 100 * exactAfter));
            // the files
            Path dir = Path.of(s.outputDir());
            Files.createDirectories(dir);
            tok.save(dir.resolve(TOKENIZER_FILE));
            Map<String, HostTensor> state = store.toHost();
            Map<String, String> meta = shapeMetadata(cfg);
            long adapterBytes = 0;
            long modelBytes;
            double mergedDiff = Double.NaN;
            if (s.lora().enabled()) {
                ModelFiles.saveAdapters(dir.resolve(ADAPTERS_FILE), state, s.lora(), k -> false);
                adapterBytes = Files.size(dir.resolve(ADAPTERS_FILE));
                Map<String, HostTensor> merged = Lora.merged(state, s.lora().scale());
                mergedDiff = maxDiff(logits(model, eval, manager), logitsOf(cfg, merged, eval, manager));
                if (s.saveMerged()) {
                    ModelFiles.save(dir.resolve(MERGED_FILE), merged, meta);
                }
                modelBytes = s.saveMerged() ? Files.size(dir.resolve(MERGED_FILE)) : 4 * modelElements;
                out.printf("megalith finetune: wrote %s (%,d bytes: the adapters alone, %.2f%% of the model's %,d)%s; "
                        + "merged vs base + adapters: max |logit diff| %.2e%n", dir.resolve(ADAPTERS_FILE), adapterBytes,
                        100.0 * adapterBytes / modelBytes, modelBytes,
                        s.saveMerged() ? " and " + dir.resolve(MERGED_FILE) : "", mergedDiff);
            } else {
                ModelFiles.save(dir.resolve(FINETUNED_FILE), state, meta);
                modelBytes = Files.size(dir.resolve(FINETUNED_FILE));
                out.printf("megalith finetune: wrote %s (%,d bytes)%n", dir.resolve(FINETUNED_FILE), modelBytes);
            }
            // generations
            List<String> prompts = new ArrayList<>(s.prompts());
            if (prompts.isEmpty()) {
                if (pairs != null) {
                    evalPairs.stream().limit(4).forEach(p -> prompts.add(p[0]));
                } else {
                    prompts.add(tok.decode(Arrays.copyOfRange(textTokens, trainTextEnd, trainTextEnd + 8)));
                }
            }
            List<String> generations = new ArrayList<>();
            for (String p : prompts) {
                int max = pairs != null && s.prompts().isEmpty() ? maxAnswer(tok, evalPairs) + end.length : s.maxNewTokens();
                String g = continuation(model, tok, p, max, end, pairs != null, s.temperature(), s.topK(), manager,
                        s.seed());
                generations.add(p + g);
                out.printf("  %s|%s%n", show(p), show(g));
            }
            return new Outcome(lossBefore, lossAfter, exactBefore, exactAfter, evalPairs.size(), first, last, s.steps(),
                    seconds, trainer.trainableElements(), modelElements, adapterBytes, modelBytes, mergedDiff, generations,
                    dir);
        }
    }

    /** LoRA: adapters only; else every parameter; minus frozen prefixes and the first freeze_blocks blocks. */
    static Predicate<Parameter> trainable(Settings s) {
        List<String> frozen = new ArrayList<>(s.freeze());
        for (int i = 0; i < s.freezeBlocks(); i++) {
            frozen.add("blocks." + i + ".");
        }
        Predicate<Parameter> notFrozen = Pretrained.trainableExcept(frozen);
        return s.lora().enabled() ? Lora.adaptersOnly().and(notFrozen) : notFrozen;
    }

    /** The batch of {@code step}: random pairs (with replacement), or random windows of the train text. */
    private static List<Pairs.Example> sample(Settings s, int step, List<Pairs.Example> train, int[] text, int textEnd, int block) {
        Random r = new Random(CounterRng.key(CounterRng.key(s.seed(), "finetune-batch"), step));
        List<Pairs.Example> out = new ArrayList<>();
        for (int i = 0; i < s.batchSize(); i++) {
            if (text == null) {
                out.add(train.get(r.nextInt(train.size())));
            } else {
                int at = r.nextInt(textEnd - block);
                out.add(new Pairs.Example(Arrays.copyOfRange(text, at, at + block + 1), 1));
            }
        }
        return out;
    }

    /** Mean loss over the scored tokens of {@code examples}, in inference mode. */
    static double evalLoss(ModuleTrainer trainer, Gpt model, List<Pairs.Example> examples) {
        double sum = 0;
        long n = 0;
        for (int i = 0; i < examples.size(); i += 32) {
            PtBatch pb = batch(examples.subList(i, Math.min(examples.size(), i + 32)));
            double l = trainer.eval(ctx -> (double) model.loss(Ops.longs(ctx.manager(), pb.ids(), pb.rows(), pb.length()),
                    Targets.of(ctx.manager(), pb.targets()), ctx).getFloat());
            sum += l * pb.scored();
            n += pb.scored();
        }
        return sum / n;
    }

    /** The fraction of pairs whose greedy continuation of the prompt is exactly the answer (then end-of-answer). */
    static double exactMatch(Gpt model, Tokenizer tok, List<String[]> pairs, int[] end, NDManager manager, long seed) {
        return io.megalith.core.train.PairAccuracy.evaluate(model, tok, pairs, end, manager, 0).accuracy();
    }

    private static int maxAnswer(Tokenizer tok, List<String[]> pairs) {
        return pairs.stream().mapToInt(p -> tok.encode(p[1]).length).max().orElse(16);
    }

    private static String cut(Tokenizer tok, long[] ids, int[] end) {
        return Pairs.cut(tok, ids, end);
    }

    /**
     * A continuation of {@code prompt}, greedy at temperature 0 (cut at the end-of-answer token for answers), else
     * sampled from the top k.
     */
    public static String continuation(Gpt model, Tokenizer tok, String prompt, int maxNew, int[] end, boolean answer,
            double temperature, int topK, NDManager manager, long seed) {
        long[] p = Arrays.stream(tok.encode(prompt)).asLongStream().toArray();
        long[] got = new Generator(model, manager).generate(new long[][] {p}, maxNew, temperature, topK, seed, true)[0];
        long[] gen = Arrays.copyOfRange(got, p.length, got.length);
        return answer ? cut(tok, gen, end) : tok.decode(Arrays.stream(gen).mapToInt(x -> (int) x).toArray());
    }

    /** Logits of a model at every position of (up to 8 of) {@code examples}, concatenated. */
    static float[] logits(Gpt model, List<Pairs.Example> examples, NDManager manager) {
        PtBatch pb = batch(examples.subList(0, Math.min(8, examples.size())));
        ai.djl.pytorch.jni.JniUtils.setGradMode(false);
        try (ai.djl.ndarray.NDScope scope = new ai.djl.ndarray.NDScope(); NDManager m = manager.newSubManager()) {
            return model.logits(Ops.longs(m, pb.ids(), pb.rows(), pb.length()), ForwardContext.inference(m)).toFloatArray();
        }
    }

    /** The same logits from a plain GPT (no adapters) holding {@code state}. */
    public static float[] logitsOf(GptConfig cfg, Map<String, HostTensor> state, List<Pairs.Example> examples, NDManager manager) {
        Gpt plain = new Gpt(cfg);
        try (ParameterStore store = new ParameterStore(plain, manager, 0)) {
            store.load(state);
            plain.initConstants(store.manager());
            return logits(plain, examples, manager);
        }
    }

    static double maxDiff(float[] a, float[] b) {
        double w = 0;
        for (int i = 0; i < a.length; i++) {
            w = Math.max(w, Math.abs(a[i] - b[i]));
        }
        return w;
    }

    private static String show(String s) {
        return s.replace("\n", "\\n");
    }
}
