package io.megalith.core.inference;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.AdditionData;
import io.megalith.core.data.PairsData;
import io.megalith.core.data.TrainingData;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.generate.TextSamples;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.prune.MagnitudeMask;
import io.megalith.core.prune.StructuredPruning;
import io.megalith.core.quantize.GptDecoder;
import io.megalith.core.quantize.HalfFloats;
import io.megalith.core.quantize.Int8Weights;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.BaseRun;
import io.megalith.core.train.eval.AdditionAccuracy;
import io.megalith.core.train.eval.PairAccuracy;
import io.megalith.core.train.eval.ValidationLoss;
import java.io.IOException;
import java.io.PrintStream;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/** A GPT and its tokenizer loaded from the latest complete checkpoint of a run directory, for inference. */
public final class TrainedGpt implements TrainedModel {
    private final String runDir;
    private final Configuration hadoop;
    private final MegalithConfig config;
    private final RunState state;
    private final Tokenizer tokenizer;
    private final NDManager manager;
    private Gpt model; // of the checkpoint's shape, or of structurally pruned weights useWeights loaded
    private ParameterStore params;
    private GptDecoder decoder; // set by useWeights: free text decodes with it

    private TrainedGpt(String runDir, Configuration hadoop, MegalithConfig config, RunState state, Tokenizer tokenizer,
            NDManager manager, Gpt model, ParameterStore params) {
        this.runDir = runDir;
        this.hadoop = hadoop;
        this.config = config;
        this.state = state;
        this.tokenizer = tokenizer;
        this.manager = manager;
        this.model = model;
        this.params = params;
    }

    /**
     * Generates from the weights at {@code location} instead of the checkpoint's (a safetensors file or directory, as
     * {@code megalith ckpt export} writes, any --dtype): free text decodes with the Java batch-1 decoder
     * ({@link GptDecoder}: from the int8 values themselves when the file is int8); the held-out evaluations run the
     * model with the weights those stand for (dequantised, or widened from 16 bits). Weights with fewer heads or
     * hidden units than the run's (a structurally pruned export: {@link StructuredPruning}) get a model of their shape.
     */
    public void useWeights(String location) throws IOException {
        Map<String, HostTensor> stored = SafetensorsWeights.read(location, hadoop);
        if (stored.keySet().stream().anyMatch(n -> n.contains("lora_"))) {
            throw new IllegalArgumentException(location + " holds LoRA adapters: the decoder runs merged weights "
                    + "(export the fine-tune's merged model)");
        }
        boolean int8 = stored.values().stream().anyMatch(t -> t.dtype() == HostTensor.DType.I8);
        Map<String, HostTensor> full = new LinkedHashMap<>();
        (int8 ? Int8Weights.dequantize(stored) : stored).forEach((n, t) -> full.put(n, HalfFloats.widen(t)));
        GptConfig shape = StructuredPruning.shapeOf(state.model(), full);
        if (!shape.equals(model.config())) {
            this.model = new Gpt(shape, LoraConfig.NONE);
            this.params = new ParameterStore(model, manager, state.seed());
            model.initConstants(manager);
        }
        params.load(full);
        this.decoder = int8 ? GptDecoder.int8(shape, stored) : GptDecoder.fp32(shape, full);
    }

    /**
     * Prunes the weights loaded now at once: each layer weight matrix loses its {@code sparsity} smallest magnitudes
     * ({@link MagnitudeMask}, one-shot, without the fine-tuning a prune section gives); evaluation and decoding use
     * the pruned weights. Returns the sparsity reached over the prunable tensors.
     */
    public double prune(double sparsity) {
        Map<String, HostTensor> pruned = MagnitudeMask.pruned(params.toHost(), sparsity);
        params.load(pruned);
        this.decoder = GptDecoder.fp32(model.config(), pruned);
        return MagnitudeMask.sparsity(pruned);
    }

    /**
     * The run's validation loss on the weights loaded now (the checkpoint's, or those {@link #useWeights} loaded): the
     * mean over the first {@code batches} validation batches of train.batch_size rows, what training logs as
     * val_loss. The data is rebuilt from the saved config and the checkpoint's tokenizer.
     *
     * @param preparedData the token shards Spark prepared for a text run (what its ranks read), or null to tokenize
     *     data.path here (an in-process run's data)
     */
    public Validation validate(int batches, String preparedData) throws IOException {
        try (TrainingData data = GptRunData.open(config, tokenizer, preparedData, hadoop)) {
            int rows = config.train().batchSize();
            return new Validation(ValidationLoss.of(model, data, batches, rows, manager), batches, rows,
                    data.describe());
        }
    }

    /** The validation loss as {@link #validate} computes it, on data.path tokenized here. */
    public double validationLoss(int batches) throws IOException {
        return validate(batches, null).loss();
    }

    /** A validation loss, over {@code batches} batches of {@code rows} rows of {@code data} (its description). */
    public record Validation(double loss, int batches, int rows, String data) {}

    public static TrainedGpt load(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        Torch.load(threads);
        String runDir = which.runDir();
        SavedRun saved = SavedRun.load(which, hadoop);
        RunState state = saved.state();
        if (state.model() == null) {
            throw new IOException(runDir + " holds a model.family " + state.family() + " checkpoint ("
                    + state.familyModel() + "), not a GPT's");
        }
        MegalithConfig cfg = saved.config();
        Tokenizer tok = Tokenizers.fromBytes(saved.tokenizer());
        NDManager manager = Torch.newManager();
        // a LoRA fine-tune's checkpoint holds its adapters: build the model with them (its saved finetune section)
        Gpt model = new Gpt(state.model(), cfg.finetune().loraConfig());
        ParameterStore params = new ParameterStore(model, manager, state.seed());
        model.initConstants(manager);
        params.load(saved.model());
        return new TrainedGpt(runDir, hadoop, cfg, state, tok, manager, model, params);
    }

    /**
     * Continues each prompt (default: the run's generate.prompt) with the run's generate settings, the request's
     * overriding them. Without a prompt, a run on the addition or a prompt -> answer task shows held-out problems
     * worked greedily instead, as training measures them.
     */
    @Override
    public void generate(GenerateRequest r, PrintStream out) throws IOException {
        String prompt = r.prompts().isEmpty() ? null : r.prompts().get(0);
        MegalithConfig.Generate saved = config.generate();
        MegalithConfig.Generate g = new MegalithConfig.Generate(
                prompt != null ? prompt : saved.prompt(),
                r.maxNewTokens() != null ? r.maxNewTokens() : saved.maxNewTokens(),
                r.temperature() != null ? r.temperature() : saved.temperature(),
                r.topK() != null ? r.topK() : saved.topK(),
                Math.max(1, r.samples() != null ? r.samples() : saved.samples()));
        long seed = r.seed() != null ? r.seed() : config.seed();
        if (prompt == null && "addition".equals(config.data().task())) {
            // no free text to continue: show held-out problems worked greedily, as training does at its end
            MegalithConfig.Data d = config.data();
            AdditionData data = new AdditionData(d.digits(), d.heldOutFraction(), config.seed());
            int n = r.samples() != null ? Math.max(1, r.samples()) : 8;
            AdditionAccuracy.Result result = AdditionAccuracy.evaluate(model, data, manager, n, n);
            out.printf("megalith: %s at step %d: %d held-out problems, %.0f%% exact%n", runDir, step(), n,
                    result.accuracy() * 100);
            result.examples().forEach(out::println);
            return;
        }
        if (prompt == null && "pairs".equals(config.data().task())) {
            // a prompt -> answer fine-tune: its held-out pairs worked greedily, as training measures them
            String words = BaseRun.savedDataPath(config.checkpoint().initFrom(), hadoop);
            PairsData data = PairsData.of(config.pairsSource(), Tokenizers.fromBytes(Tokenizers.toBytes(tokenizer)), words,
                    true, hadoop);
            int n = Math.min(data.heldOutPairs().size(), r.samples() != null ? Math.max(1, r.samples()) : 8);
            PairAccuracy.Result result = PairAccuracy.evaluate(model, data.tokenizer(), data.heldOutPairs().subList(0, n),
                    data.endOfAnswer(), manager, n);
            data.close();
            out.printf("megalith: %s at step %d: %d held-out pairs, %.0f%% exact%n", runDir, step(), n,
                    result.accuracy() * 100);
            result.examples().forEach(out::println);
            return;
        }
        out.printf("megalith: %s at step %d%n", runDir, step());
        for (String p : r.prompts().isEmpty() ? Collections.singletonList(g.prompt()) : r.prompts()) {
            MegalithConfig.Generate one = new MegalithConfig.Generate(p, g.maxNewTokens(), g.temperature(), g.topK(),
                    g.samples());
            for (String t : decoder != null ? TextSamples.of(decoder, tokenizer, one, seed)
                    : TextSamples.of(model, tokenizer, manager, one, seed)) {
                out.println(t);
                out.println("---");
            }
        }
    }

    @Override
    public MegalithConfig config() {
        return config;
    }

    @Override
    public long step() {
        return state.step();
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public Gpt model() {
        return model;
    }

    public NDManager manager() {
        return manager;
    }

    @Override
    public void close() {
        tokenizer.close();
        manager.close();
    }
}
