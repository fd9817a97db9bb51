package io.megalith.core.config;

import io.megalith.core.data.Pairs;
import io.megalith.core.data.PairsData;
import io.megalith.core.data.shards.ShardReading;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.pipeline.PipelineSchedule;
import io.megalith.core.train.report.LossChart;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * The whole configuration of a run, bound strictly from YAML (snake_case keys). Defaults live in
 * {@code megalith-defaults.yaml} next to this class; that file is also the reference of every key.
 */
public record MegalithConfig(
        long seed,
        Run run,
        Model model,
        Data data,
        Train train,
        Checkpoint checkpoint,
        Runtime runtime,
        Generate generate,
        Parallel parallel,
        Zero zero,
        Comm comm,
        Launch launch,
        Finetune finetune,
        Report report,
        Diffusion diffusion,
        Distill distill,
        Prune prune) {

    /** A run without a prune section's settings (nothing pruned). */
    public MegalithConfig(long seed, Run run, Model model, Data data, Train train, Checkpoint checkpoint,
            Runtime runtime, Generate generate, Parallel parallel, Zero zero, Comm comm, Launch launch,
            Finetune finetune, Report report, Diffusion diffusion, Distill distill) {
        this(seed, run, model, data, train, checkpoint, runtime, generate, parallel, zero, comm, launch, finetune,
                report, diffusion, distill, Prune.NONE);
    }

    /** A run without a distill section's settings (no teacher). */
    public MegalithConfig(long seed, Run run, Model model, Data data, Train train, Checkpoint checkpoint,
            Runtime runtime, Generate generate, Parallel parallel, Zero zero, Comm comm, Launch launch,
            Finetune finetune, Report report, Diffusion diffusion) {
        this(seed, run, model, data, train, checkpoint, runtime, generate, parallel, zero, comm, launch, finetune,
                report, diffusion, Distill.NONE);
    }

    /** A run without a diffusion section's settings (DiT's defaults). */
    public MegalithConfig(long seed, Run run, Model model, Data data, Train train, Checkpoint checkpoint,
            Runtime runtime, Generate generate, Parallel parallel, Zero zero, Comm comm, Launch launch,
            Finetune finetune, Report report) {
        this(seed, run, model, data, train, checkpoint, runtime, generate, parallel, zero, comm, launch, finetune,
                report, Diffusion.DEFAULT);
    }

    /** A run with the default report (loss.png's loss axis chosen by the losses). */
    public MegalithConfig(long seed, Run run, Model model, Data data, Train train, Checkpoint checkpoint,
            Runtime runtime, Generate generate, Parallel parallel, Zero zero, Comm comm, Launch launch,
            Finetune finetune) {
        this(seed, run, model, data, train, checkpoint, runtime, generate, parallel, zero, comm, launch, finetune,
                Report.DEFAULT);
    }

    /** A run without a finetune section's settings (no adapters, nothing frozen). */
    public MegalithConfig(long seed, Run run, Model model, Data data, Train train, Checkpoint checkpoint,
            Runtime runtime, Generate generate, Parallel parallel, Zero zero, Comm comm, Launch launch) {
        this(seed, run, model, data, train, checkpoint, runtime, generate, parallel, zero, comm, launch,
                Finetune.NONE);
    }

    /** Where the run lives: checkpoints, metrics.jsonl, loss.png, tokenizer. */
    public record Run(String dir, String name) {}

    /**
     * GPT shape, as nanoGPT's GPTConfig. vocab_size 0 means "from the tokenizer". BERT (family bert) reads pre_ln
     * (false: BERT's post-LN), type_vocab_size (segment types) and nsp (masked-LM pre-training adds next-sentence
     * prediction over halves of its windows) too. The ViT (family vit) reads image_size, channels and classes (0:
     * from the data), patch_size, pool (cls | mean) and pos_emb (learned | sincos). CLIP (family clip) reads the
     * ViT's keys for its image tower and embed_dim (the joint space), text_len (caption tokens) and text_mask (causal |
     * bidirectional) for its text tower. A text-to-image DiT (family dit, data.task captions) reads text_len, text_mask,
     * text_layers (its text encoder's layers, 0: n_layer; n_head and n_embd as the DiT's) and pooled_text (c reads
     * the caption pooled too: its last token under a causal mask, the mean under a bidirectional one). The GPT
     * reads head_size (0: n_embd / n_head) and mlp_hidden (0: 4 n_embd), which only a structurally pruned GPT sets
     * (`megalith ckpt export --prune-heads/--prune-neurons` prints them).
     */
    public record Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
            Moe moe, String family, int nEncoderLayer, int nDecoderLayer, boolean preLn, int typeVocabSize,
            boolean nsp, int imageSize, int channels, int patchSize, int classes, String pool, String posEmb,
            int embedDim, int textLen, String textMask, int textLayers, boolean pooledText, int headSize,
            int mlpHidden) {
        /**
         * The GPT's model.family, which a model section or a checkpoint that names no family means: the only family
         * before model.family existed, so the legacy default of checkpoints written without it (RunState). The one
         * place the name is written; the registry's GPT family is named by it.
         */
        public static final String DEFAULT_FAMILY = "gpt";

        /** model.pool values (vit): the [CLS] token's final state, or the mean over the patches. */
        public static final List<String> POOLS = List.of("cls", "mean");
        /** model.pos_emb values (vit): learned positions, or fixed 2-D sin-cos ones. */
        public static final List<String> POS_EMBS = List.of("learned", "sincos");

        /** model.text_mask values (clip): causal (pool the last token) or bidirectional (pool the mean). */
        public static final List<String> TEXT_MASKS = List.of("causal", "bidirectional");

        /** Any family, heads of n_embd / n_head and 4 n_embd hidden units (a model not structurally pruned). */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
                Moe moe, String family, int nEncoderLayer, int nDecoderLayer, boolean preLn, int typeVocabSize,
                boolean nsp, int imageSize, int channels, int patchSize, int classes, String pool, String posEmb,
                int embedDim, int textLen, String textMask, int textLayers, boolean pooledText) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, moe, family, nEncoderLayer, nDecoderLayer,
                    preLn, typeVocabSize, nsp, imageSize, channels, patchSize, classes, pool, posEmb, embedDim, textLen,
                    textMask, textLayers, pooledText, 0, 0);
        }

        /** Any family, a text-to-image DiT's c without the pooled caption. */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
                Moe moe, String family, int nEncoderLayer, int nDecoderLayer, boolean preLn, int typeVocabSize,
                boolean nsp, int imageSize, int channels, int patchSize, int classes, String pool, String posEmb,
                int embedDim, int textLen, String textMask, int textLayers) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, moe, family, nEncoderLayer, nDecoderLayer,
                    preLn, typeVocabSize, nsp, imageSize, channels, patchSize, classes, pool, posEmb, embedDim, textLen,
                    textMask, textLayers, false);
        }

        /** Any family but the text-to-image DiT, whose text encoder has n_layer layers. */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
                Moe moe, String family, int nEncoderLayer, int nDecoderLayer, boolean preLn, int typeVocabSize,
                boolean nsp, int imageSize, int channels, int patchSize, int classes, String pool, String posEmb,
                int embedDim, int textLen, String textMask) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, moe, family, nEncoderLayer, nDecoderLayer,
                    preLn, typeVocabSize, nsp, imageSize, channels, patchSize, classes, pool, posEmb, embedDim, textLen,
                    textMask, 0);
        }

        /** Any family but CLIP, whose keys keep their defaults (a joint space of 64, 32 tokens, causal). */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
                Moe moe, String family, int nEncoderLayer, int nDecoderLayer, boolean preLn, int typeVocabSize,
                boolean nsp, int imageSize, int channels, int patchSize, int classes, String pool, String posEmb) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, moe, family, nEncoderLayer, nDecoderLayer,
                    preLn, typeVocabSize, nsp, imageSize, channels, patchSize, classes, pool, posEmb, 64, 32, "causal");
        }

        /** Any family but the ViT, whose keys keep their defaults (sizes from the data, patch 4, [CLS], learned). */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
                Moe moe, String family, int nEncoderLayer, int nDecoderLayer, boolean preLn, int typeVocabSize,
                boolean nsp) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, moe, family, nEncoderLayer, nDecoderLayer,
                    preLn, typeVocabSize, nsp, 0, 0, 4, 0, "cls", "learned");
        }

        /** Any family, BERT with its defaults (post-LN, two segment types). */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
                Moe moe, String family, int nEncoderLayer, int nDecoderLayer) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, moe, family, nEncoderLayer, nDecoderLayer,
                    false, 2, false);
        }

        /** A GPT. */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias,
                Moe moe) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, moe, DEFAULT_FAMILY, 0, 0);
        }

        /** A dense model (no MoE layers). */
        public Model(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, boolean bias) {
            this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, bias, Moe.OFF);
        }

        /** Encoder layers of an encoder_decoder (n_encoder_layer, or n_layer when 0). */
        public int encoderLayers() {
            return nEncoderLayer > 0 ? nEncoderLayer : nLayer;
        }

        /** Decoder layers of an encoder_decoder (n_decoder_layer, or n_layer when 0). */
        public int decoderLayers() {
            return nDecoderLayer > 0 ? nDecoderLayer : nLayer;
        }

        /** Layers of a text-to-image DiT's text encoder (text_layers, or n_layer when 0). */
        public int textEncoderLayers() {
            return textLayers > 0 ? textLayers : nLayer;
        }
    }

    /**
     * Mixture of experts (see io.megalith.core.moe): every {@code every}-th block (layers every-1, 2 every-1, ...)
     * has a routed MoE feed-forward of {@code experts} experts instead of the dense MLP; 0 = a dense model.
     * capacity_factor 0 = no dropping.
     */
    public record Moe(int every, int experts, int topK, double capacityFactor, double auxLossCoef, double zLossCoef) {
        public static final Moe OFF = new Moe(0, 0, 1, 0, 0, 0);

        public boolean enabled() {
            return every > 0;
        }

        /** Whether block {@code layer} (0-based) is an MoE block. */
        public boolean moeLayer(int layer) {
            return every > 0 && (layer + 1) % every == 0;
        }
    }

    /**
     * What to train on. task "text": a token stream from {@code path} (first 1-val_fraction train), a file, a
     * directory or a glob of text, JSON Lines or Parquet ({@code format}, {@code text_field}), prepared into shards
     * under {@code cache_dir} or the run directory; task "addition": the built-in n-digit addition task, no files
     * needed; tasks "classify" ({@code label<TAB>text} or sentence-pair {@code label<TAB>text_a<TAB>text_b} lines of
     * {@code path}) and "speakers" (the lines of the
     * {@code speakers} most frequent speakers of a play at {@code path}): BERT sequence classification, the last
     * held_out_fraction of the examples evaluated; task "pairs" of the GPT (fine-tuning): prompt -> answer pairs from
     * {@code path} (JSON Lines / TSV) or the {@code builtin} set, loss on the answers only. streaming: how ranks
     * read prepared shards (auto | true | false, see {@code ShardReading}), stream_cache_blocks: blocks of
     * stream_block_kib KiB the streaming cache holds at most. task "images": labelled images (package
     * {@code data.images}) from {@code path}, IDX files or a folder per class ({@code format} idx | folder | auto), or
     * the {@code builtin} set "shapes"; {@code augment}: random changes to training images (all off by default).
     * task "captions": captioned images (package {@code data.captions}), generated from the images of {@code path}
     * or {@code builtin} as {@code captions} says, or read from JSON Lines ({@code format} jsonl).
     */
    public record Data(String task, String path, String tokenizer, int bpeVocabSize, double valFraction, int digits,
            double heldOutFraction, int evalPairs, String format, String textField, String cacheDir, int minLen,
            int maxLen, int speakers, String builtin, String streaming, int streamCacheBlocks, int streamBlockKib,
            Augment augment, Captions captions) {
        public Data(String task, String path, String tokenizer, int bpeVocabSize, double valFraction, int digits,
                double heldOutFraction, int evalPairs, String format, String textField, String cacheDir, int minLen,
                int maxLen, int speakers, String builtin, String streaming, int streamCacheBlocks, int streamBlockKib,
                Augment augment) {
            this(task, path, tokenizer, bpeVocabSize, valFraction, digits, heldOutFraction, evalPairs, format, textField,
                    cacheDir, minLen, maxLen, speakers, builtin, streaming, streamCacheBlocks, streamBlockKib, augment,
                    Captions.DEFAULT);
        }

        public Data(String task, String path, String tokenizer, int bpeVocabSize, double valFraction, int digits,
                double heldOutFraction, int evalPairs, String format, String textField, String cacheDir, int minLen,
                int maxLen, int speakers, String builtin, String streaming, int streamCacheBlocks, int streamBlockKib) {
            this(task, path, tokenizer, bpeVocabSize, valFraction, digits, heldOutFraction, evalPairs, format, textField,
                    cacheDir, minLen, maxLen, speakers, builtin, streaming, streamCacheBlocks, streamBlockKib,
                    Augment.NONE);
        }

        public Data(String task, String path, String tokenizer, int bpeVocabSize, double valFraction, int digits,
                double heldOutFraction, int evalPairs, String format, String textField, String cacheDir, int minLen,
                int maxLen, int speakers, String builtin) {
            this(task, path, tokenizer, bpeVocabSize, valFraction, digits, heldOutFraction, evalPairs, format, textField,
                    cacheDir, minLen, maxLen, speakers, builtin, "auto", ShardReading.DEFAULT_CACHE_BLOCKS,
                    ShardReading.DEFAULT_BLOCK_BYTES >> 10);
        }

        /** How ranks read the prepared shards. */
        public ShardReading shardReading() {
            return new ShardReading(streaming, streamCacheBlocks, streamBlockKib << 10);
        }

        public Data(String task, String path, String tokenizer, int bpeVocabSize, double valFraction, int digits,
                double heldOutFraction, int evalPairs, String format, String textField, String cacheDir, int minLen,
                int maxLen, int speakers) {
            this(task, path, tokenizer, bpeVocabSize, valFraction, digits, heldOutFraction, evalPairs, format, textField,
                    cacheDir, minLen, maxLen, speakers, null);
        }

        public Data(String task, String path, String tokenizer, int bpeVocabSize, double valFraction, int digits,
                double heldOutFraction, int evalPairs, String format, String textField, String cacheDir, int minLen,
                int maxLen) {
            this(task, path, tokenizer, bpeVocabSize, valFraction, digits, heldOutFraction, evalPairs, format, textField,
                    cacheDir, minLen, maxLen, 5, null);
        }

        public Data(String task, String path, String tokenizer, int bpeVocabSize, double valFraction, int digits,
                double heldOutFraction, int evalPairs, String format, String textField, String cacheDir) {
            this(task, path, tokenizer, bpeVocabSize, valFraction, digits, heldOutFraction, evalPairs, format, textField,
                    cacheDir, 4, 8);
        }
    }

    /**
     * Training-image augmentation (data.task images), drawn per image from (seed, step, row): flip: mirror left-right
     * with probability 1/2; crop_padding P: pad P zero pixels on every side, then crop a random window of the original
     * size; translate N: shift by up to N pixels each way, zero-filled. 0 / false = off.
     */
    public record Augment(boolean flip, int cropPadding, int translate) {
        public static final Augment NONE = new Augment(false, 0, 0);
    }

    /**
     * The captioned set generated from an image set's items (data.task captions): canvas wide (two cells side by
     * side: left of / right of) or tall (one above the other: above / below); single_fraction of the training
     * canvases hold one item, the rest two of distinct classes; held_out_pairs unordered class pairs, chosen from the
     * seed, never together on a training canvas (the held-out compositions).
     */
    public record Captions(String canvas, double singleFraction, int heldOutPairs) {
        public static final List<String> CANVASES = List.of("wide", "tall");
        public static final Captions DEFAULT = new Captions("wide", 0.5, 8);
    }

    /** Optimisation, as nanoGPT's train.py: AdamW, warmup + cosine decay to min_lr, clipping. */
    public record Train(int maxSteps, int batchSize, int gradAccum, double lr, double minLr, int warmupSteps,
            int lrDecaySteps, double weightDecay, double beta1, double beta2, double eps, double gradClip,
            int evalEvery, int evalBatches, int logEvery, boolean activationCheckpointing) {
        /** Decay ends at lr_decay_steps, or at max_steps when 0. */
        public int decayEnd() {
            return lrDecaySteps > 0 ? lrDecaySteps : maxSteps;
        }
    }

    /**
     * every 0 = only at the end; keep_last 0 = keep all; init_from: weights to start a fresh run from (a
     * safetensors file, a Hugging Face sharded index or a directory holding either, or a checkpoint
     * directory), "" for none; async: write checkpoints in the background while training goes on;
     * init_tokenizer: the tokenizer.json of init_from weights that are not a run directory (a run directory carries
     * its own), "" for a tokenizer built from the data.
     */
    public record Checkpoint(int every, int keepLast, String initFrom, boolean async, String initTokenizer,
            double commitTimeoutSeconds, String initTextFrom) {
        public Checkpoint {
            initTextFrom = initTextFrom == null ? "" : initTextFrom;
        }

        public Checkpoint(int every, int keepLast, String initFrom, boolean async, String initTokenizer,
                double commitTimeoutSeconds) {
            this(every, keepLast, initFrom, async, initTokenizer, commitTimeoutSeconds, "");
        }

        public Checkpoint(int every, int keepLast, String initFrom, boolean async, String initTokenizer) {
            this(every, keepLast, initFrom, async, initTokenizer, 600);
        }

        public Checkpoint(int every, int keepLast, String initFrom, boolean async) {
            this(every, keepLast, initFrom, async, "");
        }

        /** How long rank 0 waits for every rank's pieces before it gives a checkpoint up (never committing it). */
        public long commitTimeoutMillis() {
            return (long) (commitTimeoutSeconds * 1000);
        }

        public Checkpoint(int every, int keepLast) {
            this(every, keepLast, "", true);
        }
    }

    /**
     * threads: libtorch intra-op threads for this rank (0 = libtorch's default); workers: threads that
     * split each micro-batch, each running a replica of the model with threads/workers libtorch threads.
     */
    public record Runtime(int threads, int workers) {}

    /**
     * What {@code runtime.workers: auto} means for this layout: 1 where the layout needs one worker (see
     * {@link #oneWorkerReason()}); else one worker per CPU of a rank (runtime.threads, or, for a run of this machine,
     * its cores over the world size; 1 under spark-submit, where a rank's CPUs are spark.task.cpus), at most
     * train.batch_size / parallel.dp so that every worker gets a share of each micro-batch.
     */
    public int autoWorkers() {
        if (oneWorkerReason() != null) {
            return 1;
        }
        boolean thisMachine = ("local".equals(launch.master()) || "inprocess".equals(launch.master()))
                && System.getProperty("spark.master") == null;
        int cpus = runtime.threads() > 0 ? runtime.threads()
                : thisMachine ? java.lang.Runtime.getRuntime().availableProcessors() / Math.max(1, parallel.worldSize())
                : 1;
        return Math.max(1, Math.min(cpus, train.batchSize() / Math.max(1, parallel.dp())));
    }

    /** Why this layout runs with one worker per rank (the YAML path that demands it), or null if it need not. */
    public String oneWorkerReason() {
        if (!can(FamilyRules::workerThreads)) {
            return "model.family " + model.family();
        }
        if (parallel.tp() > 1) {
            return "parallel.tp > 1";
        }
        if (parallel.pp() > 1) {
            return "parallel.pp > 1";
        }
        if (parallel.ep() > 1) {
            return "parallel.ep > 1 (the workers would share one expert-parallel group)";
        }
        if (zero.stage() >= 2) {
            return "zero.stage " + zero.stage() + " (partitioned gradients are reduced per layer as backward completes "
                    + "them, on one thread)";
        }
        return null;
    }

    /**
     * The layout of ranks: world size = dp x tp x pp; ep (expert parallelism) divides dp. Ranks are
     * ordered tp fastest, then dp, then pp (Megatron's order; see docs/ARCHITECTURE.md). sequence_parallel:
     * Megatron's --sequence-parallel, activations between tensor-parallel regions split along the sequence.
     */
    public record Parallel(int dp, int tp, int pp, int ep, int microbatches, double gradBucketMib, String schedule,
            boolean sequenceParallel) {
        public int worldSize() {
            return dp * tp * pp;
        }
    }

    /**
     * DeepSpeed's ZeRO over the data-parallel group: 1 partitions the AdamW state, 2 also the gradients,
     * 3 also the parameters (gathered per layer for its forward and backward).
     */
    public record Zero(int stage) {}

    /** Collective communication: every operation fails after deadline_seconds instead of hanging. */
    public record Comm(double deadlineSeconds, int chunkKib, int smallMessageKib, double connectTimeoutSeconds) {}

    /**
     * How ranks are started: master "local" runs Spark local[world size] inside this JVM; otherwise a
     * Spark master URL (spark://host:port, yarn, k8s://...) when run through spark-submit.
     */
    public record Launch(String master, int maxAttempts, boolean sparkUi) {}

    /**
     * What rank 0 draws after training besides metrics.jsonl: loss_axis, loss.png's loss axis (auto: logarithmic
     * when the losses span {@link LossChart#LOG_WHEN_DECADES} decades or more).
     */
    public record Report(String lossAxis) {
        public static final Report DEFAULT = new Report("auto");
        /** The values of report.loss_axis, as written in YAML. */
        public static final List<String> LOSS_AXES = List.of("auto", "linear", "log");

        /** loss.png's loss axis ({@code lossAxis} as checked by {@link MegalithConfig#problems()}). */
        public LossChart.Scale lossScale() {
            return LossChart.Scale.valueOf(lossAxis.toUpperCase(Locale.ROOT));
        }
    }

    /**
     * Denoising diffusion (model.family dit): {@code timesteps} of a linear or cosine beta {@code schedule}, what the
     * network predicts (eps or v), the probability of dropping a label to the null class in training (classifier-free
     * guidance), the EMA decay of the weights (with {@code ema_warmup}: min(decay, (1 + n) / (10 + n)) at the n-th
     * update, so a short run's average is not dominated by the initial weights), and the sampler {@code megalith generate} uses by default: ddpm (all
     * timesteps) or ddim ({@code sample_steps}, noise {@code eta}), guidance scale, and the clamp of predicted x_0
     * ({@code clip}, 0: none).
     */
    public record Diffusion(String schedule, int timesteps, String prediction, double classDropout, double emaDecay,
            String sampler, int sampleSteps, double eta, double guidance, double clip, boolean emaWarmup) {
        public static final List<String> SCHEDULES = List.of("linear", "cosine");
        public static final List<String> PREDICTIONS = List.of("eps", "v");
        public static final List<String> SAMPLERS = List.of("ddpm", "ddim");
        public static final Diffusion DEFAULT = new Diffusion("linear", 1000, "eps", 0.1, 0.9999, "ddim", 50, 0.0, 4.0,
                0.0, true);
    }

    /**
     * Knowledge distillation (Hinton et al.): a frozen {@code teacher} (a GPT run directory: its latest complete
     * checkpoint, any layout; or with {@code weights} the safetensors file {@code ckpt export} or {@code quantize}
     * wrote from it) runs on every batch in this run's ranks, and the loss is
     * {@code alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy}, where {@code _T} is the softmax
     * of the logits divided by {@code temperature} T (T^2 keeps the soft gradients' scale independent of T).
     */
    public record Distill(String teacher, String weights, double temperature, double alpha) {
        public static final Distill NONE = new Distill("", "", 2.0, 0.5);

        public Distill {
            teacher = teacher == null ? "" : teacher;
            weights = weights == null ? "" : weights;
        }

        /** Whether this run learns from a teacher. */
        public boolean active() {
            return !teacher.isBlank();
        }
    }

    private void initTextProblems(Checks c) {
        c.require(!model.pooledText() || (can(FamilyRules::textToImage) && captions()), "model.pooled_text: adds the "
                + "pooled caption to a text-to-image DiT's conditioning (model.family dit, data.task captions; got "
                + "model.family " + model.family() + ", data.task " + data.task() + "); remove it");
        if (checkpoint == null || checkpoint.initTextFrom().isBlank()) {
            return;
        }
        c.require(can(FamilyRules::textToImage) && captions(), "checkpoint.init_text_from: starts a text-to-image "
                + "DiT's text encoder (model.family dit, data.task captions) from a clip run's text tower (got "
                + "model.family " + model.family() + ", data.task " + data.task() + "); remove it");
        c.require(!checkpoint.initTextFrom().equals(run.dir()), "checkpoint.init_text_from: is this run's own run.dir ("
                + run.dir() + "); name a clip run's directory");
    }

    /**
     * Gradual magnitude pruning (Zhu and Gupta, 2017, "To prune, or not to prune"): every {@code every} steps from
     * {@code start_step} to {@code end_step} (0: train.max_steps) each weight matrix of the transformer's layers is
     * masked to the sparsity of the cubic schedule s_t = s_f (1 - (1 - (t - t0) / (t1 - t0))^3), its smallest
     * magnitudes zeroed; the masks are enforced after every optimizer step and kept in checkpoints
     * ({@code io.megalith.core.prune}). {@code sparsity} 0: off.
     */
    public record Prune(double sparsity, int startStep, int endStep, int every) {
        public static final Prune NONE = new Prune(0, 0, 0, 100);

        /** Whether this run prunes. */
        public boolean active() {
            return sparsity > 0;
        }

        /** The last step of the schedule: end_step, or max_steps when 0. */
        public long end(long maxSteps) {
            return endStep > 0 ? endStep : maxSteps;
        }
    }

    private void pruneProblems(Checks c) {
        if (prune == null) {
            c.require(false, "prune: must be a section (sparsity: 0 for none)");
            return;
        }
        c.require(prune.sparsity() >= 0 && prune.sparsity() < 1, "prune.sparsity: must be in [0, 1) (got "
                + prune.sparsity() + "): the final fraction of each layer weight matrix set to zero; e.g. 0.5");
        if (!prune.active()) {
            return;
        }
        c.atLeast("prune.start_step", prune.startStep(), 0);
        c.atLeast("prune.every", prune.every(), 1);
        long end = prune.end(train.maxSteps());
        c.require(end > prune.startStep(), "prune.end_step: must be after prune.start_step (" + prune.startStep()
                + "), got " + end + (prune.endStep() == 0 ? " (train.max_steps)" : "") + "; set prune.end_step");
        c.require(end <= train.maxSteps(), "prune.end_step: must be at most train.max_steps (" + train.maxSteps()
                + "), got " + prune.endStep());
        c.require(zero == null || zero.stage() < 2, "prune.sparsity: pruning masks replicated parameters (zero.stage 0 "
                + "or 1), got zero.stage " + (zero == null ? 0 : zero.stage()) + "; set zero.stage=1");
    }

    private void distillProblems(Checks c) {
        if (distill == null) {
            c.require(false, "distill: must be a section (teacher: \"\" for none)");
            return;
        }
        if (!distill.active()) {
            c.require(distill.weights().isBlank(), "distill.weights: names the teacher's weights, which need "
                    + "distill.teacher (the teacher's run.dir, for its shape and tokenizer); set distill.teacher or "
                    + "remove distill.weights");
            return;
        }
        c.require(distill.temperature() > 0, "distill.temperature: must be > 0 (got " + distill.temperature()
                + "); e.g. 2");
        c.require(distill.alpha() >= 0 && distill.alpha() <= 1, "distill.alpha: must be in [0, 1] (got "
                + distill.alpha() + "): the weight of the teacher's soft loss; e.g. 0.5");
        c.require(can(FamilyRules::distillable), "distill.teacher: distillation trains model.family gpt or vit (got "
                + model.family() + "); remove the distill section");
        if (images()) { // a vit student of a vit teacher: its classes, on the same images
            c.require(distill.weights().isBlank(), "distill.weights: a GPT teacher's exported weights; a vit teacher "
                    + "is read from its run.dir (distill.teacher); remove distill.weights");
        } else {
            c.require("text".equals(data.task()), "distill.teacher: distillation learns next-token text (data.task "
                    + "text, got " + data.task() + ") or classes of images (model.family vit, data.task images); "
                    + "remove the distill section or set data.task=text");
            // the student's logits split by vocabulary under tp would need a vocab-parallel KL
            c.require(parallel == null || parallel.tp() <= 1, "distill.teacher: a student with parallel.tp > 1 is "
                    + "not supported (its vocab-parallel logits); set parallel.tp=1 (dp, pp and ZeRO work)");
        }
        c.require(!distill.teacher().equals(run.dir()), "distill.teacher: is this run's own run.dir ("
                + run.dir() + "); name the teacher's run directory");
    }

    /** Sampling after training and for {@code megalith generate}. */
    public record Generate(String prompt, int maxNewTokens, double temperature, int topK, int samples) {}

    /**
     * Fine-tuning the weights of checkpoint.init_from: LoRA adapters ({@code lora.rank} > 0: only the adapters
     * train, everything else is frozen) and/or frozen parameters ({@code freeze}: name prefixes, e.g. {@code wte},
     * {@code blocks.0.}). Frozen parameters get no gradient, no communication and no optimizer state.
     */
    public record Finetune(Lora lora, List<String> freeze) {
        public static final Finetune NONE = new Finetune(new Lora(0, 16, List.of()), List.of());

        public Finetune {
            freeze = freeze == null ? List.of() : List.copyOf(freeze);
        }

        /** Whether the parameter {@code name} trains: an adapter under LoRA, else anything not frozen by prefix. */
        public boolean trains(String name) {
            if (lora != null && lora.rank() > 0) {
                return name.endsWith("." + LoraLinear.A)
                        || name.endsWith("." + LoraLinear.B);
            }
            return freeze.stream().noneMatch(name::startsWith);
        }

        /** Whether this run freezes anything (adapters or prefixes). */
        public boolean active() {
            return (lora != null && lora.rank() > 0) || !freeze.isEmpty();
        }

        /** The adapters this run adds (LoraConfig.NONE without). */
        public LoraConfig loraConfig() {
            return lora == null || lora.rank() == 0 ? LoraConfig.NONE
                    : new LoraConfig(lora.rank(), lora.alpha(), lora.targets());
        }
    }

    /** Low-rank adapters: rank (0: none), scale alpha / rank, target linear layers (module-name suffixes, or *). */
    public record Lora(int rank, double alpha, List<String> targets) {
        public Lora {
            targets = targets == null ? List.of() : List.copyOf(targets);
        }
    }

    private void finetuneProblems(Checks c) {
        if (finetune == null || finetune.lora() == null) {
            c.require(false, "finetune.lora: must be a section (rank: 0 for no adapters)");
            return;
        }
        Lora l = finetune.lora();
        c.atLeast("finetune.lora.rank", l.rank(), 0);
        if (l.rank() > 0) {
            c.require(l.alpha() > 0, "finetune.lora.alpha: must be > 0 with finetune.lora.rank > 0 (got " + l.alpha()
                    + "); e.g. 16");
            c.require(!l.targets().isEmpty(), "finetune.lora.targets: must name at least one linear layer with "
                    + "finetune.lora.rank > 0, e.g. [attn.qkv, attn.proj, mlp.fc, mlp.proj]");
            c.require(model.moe() == null || !model.moe().enabled(), "finetune.lora: MoE models get no adapters; set "
                    + "finetune.lora.rank=0 or model.moe.every=0");
        }
        for (String f : finetune.freeze()) {
            c.require(f != null && !f.isBlank(), "finetune.freeze: entries must be non-empty parameter-name prefixes "
                    + "(e.g. wte, blocks.0.)");
            // ep ranks hold different experts: freezing some would give them different gradient bucket layouts
            c.require(f == null || parallel == null || parallel.ep() <= 1 || !f.matches(".*experts\\.\\d.*"),
                    "finetune.freeze: " + f + " names single experts, which parallel.ep > 1 cannot freeze; freeze a "
                    + "layer's experts together (e.g. blocks.1.moe.experts.) or set parallel.ep=1");
        }
    }

    /** Whether the run trains on images (package data.images) rather than tokens. */
    public boolean images() {
        return "images".equals(data.task());
    }

    /**
     * Whether the run trains on captioned images (package data.captions: data.task captions), which the families with
     * {@link FamilyRules#captionedImages} take.
     */
    public boolean captions() {
        return "captions".equals(data.task());
    }

    /** data.task captions: a path or the built-in set to generate from, the generated set's keys in range. */
    private void captionProblems(Checks c) {
        Captions k = data.captions();
        if (k == null) {
            c.require(false, "data.captions: must be a map (canvas, single_fraction, held_out_pairs)");
            return;
        }
        c.oneOf("data.captions.canvas", k.canvas(), Captions.CANVASES);
        c.inRange("data.captions.single_fraction", k.singleFraction(), 0.0, 1.0);
        c.atLeast("data.captions.held_out_pairs", k.heldOutPairs(), 0);
        if (!captions()) {
            c.require(k.equals(Captions.DEFAULT), "data.captions: only for data.task captions (got data.task "
                    + data.task() + "); remove it");
            return;
        }
        boolean file = data.path() != null && !data.path().isBlank();
        boolean builtin = data.builtin() != null && !data.builtin().isBlank();
        c.require(file != builtin, "data: data.task captions needs exactly one of data.path (IDX files or a folder "
                + "with a sub-folder per class to generate from, or a directory with train.jsonl and data.format "
                + "jsonl) and data.builtin (" + String.join(", ", IMAGE_BUILTINS) + "); got "
                + (file ? "both" : "neither"));
        if (builtin) {
            c.oneOf("data.builtin", data.builtin(), IMAGE_BUILTINS);
            c.require(!"jsonl".equals(data.format()), "data.format: jsonl reads captions from data.path, and "
                    + "data.builtin generates them from its images; remove one of them");
        }
    }

    /** data.task images: a path or the built-in set; augmentation for images and generated captions' items. */
    private void imageProblems(Checks c) {
        Augment a = data.augment();
        c.require(a != null, "data.augment: must be a map (flip, crop_padding, translate)");
        if (a == null) {
            return;
        }
        c.atLeast("data.augment.crop_padding", a.cropPadding(), 0);
        c.atLeast("data.augment.translate", a.translate(), 0);
        if (!images()) {
            c.require(a.equals(Augment.NONE) || captions(), "data.augment: only for data.task images and captions "
                    + "(got data.task " + data.task() + "); remove it");
            c.require(a.equals(Augment.NONE) || !captions() || !"jsonl".equals(data.format()), "data.augment: "
                    + "changes the items of generated canvases, not JSON Lines captions (data.format jsonl); remove it");
            return;
        }
        boolean file = data.path() != null && !data.path().isBlank();
        boolean builtin = data.builtin() != null && !data.builtin().isBlank();
        c.require(file != builtin, "data: data.task images needs exactly one of data.path (IDX files or a folder with "
                + "a sub-folder per class) and data.builtin (" + String.join(", ", IMAGE_BUILTINS) + "); got "
                + (file ? "both" : "neither"));
        if (builtin) {
            c.oneOf("data.builtin", data.builtin(), IMAGE_BUILTINS);
        }
    }

    /** data.task pairs of the GPT: a file or a built-in set, held-out pairs to measure. */
    private void pairsProblems(Checks c) {
        boolean file = data.path() != null && !data.path().isBlank();
        boolean builtin = data.builtin() != null && !data.builtin().isBlank();
        if (images() || captions()) {
            return; // imageProblems, captionProblems
        }
        if (!"pairs".equals(data.task()) || !can(FamilyRules::promptAnswerPairs)) {
            c.require(!builtin, "data.builtin: only for data.task pairs with model.family gpt (got data.task "
                    + data.task() + ", model.family " + model.family() + "); remove it");
            return;
        }
        c.require(file || builtin, "data: data.task pairs needs data.path (JSON Lines {\"prompt\", \"answer\"} or "
                + "prompt<TAB>answer lines) or data.builtin (" + String.join(", ", Pairs.BUILTINS)
                + "); got neither");
        if (builtin) {
            c.oneOf("data.builtin", data.builtin(), Pairs.BUILTINS);
            c.require(file || (checkpoint.initFrom() != null && !checkpoint.initFrom().isBlank()), "data.builtin: "
                    + "upper takes its words from data.path (a text) or, without it, from the text of the base run: set "
                    + "data.path or checkpoint.init_from (a `megalith train` run.dir)");
        }
        c.require(data.heldOutFraction() > 0, "data.held_out_fraction: must be > 0 for data.task pairs (answer loss "
                + "and exact match are measured on held-out pairs; e.g. 0.1)");
    }

    private void initTokenizerProblems(Checks c) {
        boolean tokenizer = checkpoint.initTokenizer() != null && !checkpoint.initTokenizer().isBlank();
        c.require(checkpoint.initTokenizer() != null, "checkpoint.init_tokenizer: must be a string, \"\" for none");
        c.require(!tokenizer || (checkpoint.initFrom() != null && !checkpoint.initFrom().isBlank()),
                "checkpoint.init_tokenizer: the tokenizer of checkpoint.init_from's weights; set checkpoint.init_from "
                + "too, or remove it");
    }

    /**
     * Advice that does not stop a run: settings that are allowed but probably not what was meant.
     */
    public List<String> warnings() {
        List<String> w = new ArrayList<>();
        if (finetune != null && finetune.active() && (checkpoint.initFrom() == null || checkpoint.initFrom().isBlank())) {
            w.add("finetune: " + (finetune.lora() != null && finetune.lora().rank() > 0 ? "LoRA adapters" : "frozen "
                    + "parameters") + " without checkpoint.init_from fine-tune a random model (its frozen weights "
                    + "stay random); set checkpoint.init_from to a base run.dir or weights file");
        }
        return w;
    }

    /**
     * The token tasks; data.task images (package data.images) and captions (package data.captions) are accepted too,
     * but not listed in data.task's message (whose text tests pin; see imageProblems, captionProblems).
     */
    public static final List<String> TASKS = List.of("text", "addition", "reverse", "pairs", "classify", "speakers");

    /** Whether the data task is BERT sequence classification (labeled texts) rather than pre-training. */
    public boolean classification() {
        return "classify".equals(data.task()) || "speakers".equals(data.task());
    }

    /**
     * Whether {@code family} (e.g. the model.family a checkpoint records) is the family this config trains, as the
     * family registry answers (FamilyRules.named): what a run asks before it resumes or starts from a checkpoint.
     */
    public boolean sameFamily(String family) {
        return InstalledFamilies.find(model.family()).filter(f -> f.named(family)).isPresent();
    }

    /** The names model.family accepts: the registered families' (family/ModelFamilies, through FamilyRules). */
    public static final List<String> FAMILIES = InstalledFamilies.names();

    /** data.task pairs' data, as the data package reads it. */
    public PairsData.Source pairsSource() {
        int multiple = parallel.sequenceParallel() ? parallel.tp() : 1; // equal sequence-parallel shards per rank
        return new PairsData.Source(data.builtin(), data.path(), data.tokenizer(), data.bpeVocabSize(),
                data.heldOutFraction(), model.blockSize(), seed, multiple, checkpoint.initFrom());
    }

    /** Whether model.family names a registered family that has {@code capability}. */
    private boolean can(Predicate<FamilyRules> capability) {
        return InstalledFamilies.find(model.family()).filter(capability).isPresent();
    }

    /** Checks of the family and of the tasks and layouts only some families take (see FamilyRules). */
    private void familyProblems(Checks c) {
        c.oneOf("model.family", model.family(), FAMILIES);
        c.atLeast("model.n_encoder_layer", model.nEncoderLayer(), 0);
        c.atLeast("model.n_decoder_layer", model.nDecoderLayer(), 0);
        c.atLeast("model.type_vocab_size", model.typeVocabSize(), 1);
        if (model.nsp()) {
            c.require(can(FamilyRules::nextSentencePrediction) && !classification(), "model.nsp: next-sentence "
                    + "prediction is a model.family bert pre-training head (data.task text or addition)");
            c.require(model.typeVocabSize() >= 2, "model.type_vocab_size: must be >= 2 with model.nsp (sentence A and "
                    + "B segments)");
            c.atLeast("model.block_size", model.blockSize(), 4);
        }
        if (classification()) {
            c.require(can(FamilyRules::sequenceClassification), "data.task: " + data.task() + " (sequence "
                    + "classification) trains model.family bert (got " + model.family() + ")");
            c.require(data.path() != null && !data.path().isBlank(), "data.path: must be set for data.task="
                    + data.task() + " (" + ("classify".equals(data.task())
                            ? "label<TAB>text or label<TAB>text_a<TAB>text_b lines" : "a play in the "
                    + "tinyshakespeare format") + ")");
            c.require(data.heldOutFraction() > 0, "data.held_out_fraction: must be > 0 for data.task=" + data.task()
                    + " (accuracy is measured on held-out examples; e.g. 0.1)");
            c.atLeast("data.speakers", data.speakers(), 2);
        }
        InstalledFamilies.find(model.family()).ifPresent(family -> family.checkConfig(this, c));
        String f = "model.family " + model.family();
        if (!can(FamilyRules::pipelineParallel)) {
            c.require(parallel.pp() == 1, "parallel.pp: " + f + " runs without pipeline parallelism (got pp "
                    + parallel.pp() + ")");
        }
        if (!can(FamilyRules::mixtureOfExperts)) {
            c.require(parallel.ep() == 1 && (model.moe() == null || !model.moe().enabled()), "model.moe: " + f
                    + " has no MoE blocks (set model.moe.every=0 and parallel.ep=1)");
        }
        if (!can(FamilyRules::sequenceParallel)) {
            c.require(!parallel.sequenceParallel(), "parallel.sequence_parallel: not supported for " + f);
        }
        int maxZero = InstalledFamilies.find(model.family()).map(FamilyRules::maxZeroStage).orElse(1);
        if (maxZero < 3) { // 3 is zero.stage's own range
            c.require(zero.stage() <= maxZero, "zero.stage: at most " + maxZero + " for " + f + " (got "
                    + zero.stage() + ")");
        }
    }
    public static final List<String> TOKENIZERS = List.of("char", "bpe");
    public static final List<String> DATA_FORMATS = List.of("auto", "text", "jsonl", "parquet");
    /** data.format of data.task images: IDX files (MNIST's) or a folder per class; auto tells them apart. */
    public static final List<String> IMAGE_FORMATS = List.of("auto", "idx", "folder");
    /** data.format of data.task captions: the image formats to generate from, or captions read from JSON Lines. */
    public static final List<String> CAPTION_FORMATS = List.of("auto", "idx", "folder", "jsonl");
    /** data.builtin of data.task images (no files needed). */
    public static final List<String> IMAGE_BUILTINS = List.of("shapes");

    private void moeProblems(Checks c) {
        Moe m = model.moe();
        if (m == null) {
            c.require(false, "model.moe: must be a section (every: 0 for a dense model)");
            return;
        }
        c.atLeast("model.moe.every", m.every(), 0);
        if (!m.enabled()) {
            return;
        }
        c.require(m.every() <= model.nLayer(), "model.moe.every: " + m.every() + " > model.n_layer " + model.nLayer()
                + " would give no MoE block; use 1.." + model.nLayer() + " (or 0 for a dense model)");
        c.atLeast("model.moe.experts", m.experts(), 1);
        c.inRange("model.moe.top_k", m.topK(), 1, 2);
        c.require(m.experts() < 1 || m.topK() <= m.experts(), "model.moe.top_k: must be <= model.moe.experts (" + m.topK() + " > "
                + m.experts() + "); use top_k 1 or more experts");
        c.atLeast("model.moe.capacity_factor", m.capacityFactor(), 0);
        c.atLeast("model.moe.aux_loss_coef", m.auxLossCoef(), 0);
        c.atLeast("model.moe.z_loss_coef", m.zLossCoef(), 0);
        c.require(parallel.tp() == 1, "parallel.tp: MoE blocks (model.moe.every > 0) run with tp 1 (got "
                + parallel.tp() + "); set parallel.tp=1 or model.moe.every=0");
        // sequence parallelism splits the activations of a tensor-parallel group, which MoE blocks never have
        c.require(!parallel.sequenceParallel(), "parallel.sequence_parallel: MoE blocks (model.moe.every > 0) run "
                + "without sequence parallelism (it needs tp > 1, and MoE runs with tp 1); set "
                + "parallel.sequence_parallel=false or model.moe.every=0");
        if (parallel.ep() >= 1 && m.experts() >= 1) {
            c.require(m.experts() % parallel.ep() == 0, "model.moe.experts: must be divisible by parallel.ep ("
                    + m.experts() + " experts over " + parallel.ep() + " ranks); choose experts a multiple of ep");
        }
    }

    /** The diffusion section's ranges (model.family dit reads it; every family gets them checked). */
    private void diffusionProblems(Checks c) {
        if (diffusion == null) {
            c.require(false, "diffusion: must be a section (e.g. diffusion: {schedule: linear, timesteps: 1000})");
            return;
        }
        Diffusion d = diffusion;
        c.oneOf("diffusion.schedule", d.schedule(), Diffusion.SCHEDULES);
        c.atLeast("diffusion.timesteps", d.timesteps(), 1);
        c.oneOf("diffusion.prediction", d.prediction(), Diffusion.PREDICTIONS);
        c.below("diffusion.class_dropout", d.classDropout(), 0, 1);
        c.below("diffusion.ema_decay", d.emaDecay(), 0, 1);
        c.oneOf("diffusion.sampler", d.sampler(), Diffusion.SAMPLERS);
        c.atLeast("diffusion.sample_steps", d.sampleSteps(), 1);
        c.require(d.timesteps() < 1 || d.sampleSteps() <= d.timesteps(), "diffusion.sample_steps: must be <= "
                + "diffusion.timesteps (" + d.sampleSteps() + " > " + d.timesteps() + "); DDIM skips among the "
                + "training timesteps");
        c.atLeast("diffusion.eta", d.eta(), 0);
        c.atLeast("diffusion.guidance", d.guidance(), 0);
        c.atLeast("diffusion.clip", d.clip(), 0);
    }

    /** The image model's keys (model.family vit reads them; every family gets their ranges checked). */
    private void imageModelProblems(Checks c) {
        c.atLeast("model.image_size", model.imageSize(), 0);
        c.atLeast("model.channels", model.channels(), 0);
        c.atLeast("model.patch_size", model.patchSize(), 1);
        c.atLeast("model.classes", model.classes(), 0);
        c.oneOf("model.pool", model.pool(), Model.POOLS);
        c.oneOf("model.pos_emb", model.posEmb(), Model.POS_EMBS);
        c.atLeast("model.embed_dim", model.embedDim(), 1);
        c.atLeast("model.text_len", model.textLen(), 1);
        c.oneOf("model.text_mask", model.textMask(), Model.TEXT_MASKS);
        c.atLeast("model.text_layers", model.textLayers(), 0);
    }

    /** Range and consistency checks that types alone cannot express. */
    public List<String> problems() {
        Checks c = new Checks();
        c.require(run.dir() != null && !run.dir().isBlank(), "run.dir: must be set (a local path or a Hadoop URI)");
        c.require(run.name() != null, "run.name: must be a string (got no value)");
        c.atLeast("model.n_layer", model.nLayer(), 1);
        c.atLeast("model.n_head", model.nHead(), 1);
        c.atLeast("model.n_embd", model.nEmbd(), 1);
        c.atLeast("model.block_size", model.blockSize(), 2);
        c.atLeast("model.vocab_size", model.vocabSize(), 0);
        c.below("model.dropout", model.dropout(), 0, 1);
        imageModelProblems(c);
        c.atLeast("model.head_size", model.headSize(), 0);
        c.atLeast("model.mlp_hidden", model.mlpHidden(), 0);
        boolean gpt = Model.DEFAULT_FAMILY.equals(model.family());
        c.require(gpt || model.headSize() == 0, "model.head_size: only for model.family gpt (a structurally pruned "
                + "GPT's heads; got " + model.family() + "); remove it");
        c.require(gpt || model.mlpHidden() == 0, "model.mlp_hidden: only for model.family gpt (a structurally pruned "
                + "GPT's MLP; got " + model.family() + "); remove it");
        if (model.nHead() >= 1 && model.headSize() == 0 && model.nEmbd() % model.nHead() != 0) {
            c.require(false, "model.n_embd: must be divisible by model.n_head (" + model.nEmbd() + " % "
                    + model.nHead() + " != 0); choose n_embd a multiple of n_head");
        }
        moeProblems(c);
        familyProblems(c);
        finetuneProblems(c);
        if (captions()) {
            c.require(can(FamilyRules::captionedImages), "data.task: captions (captioned images) trains a family that "
                    + "reads captions, e.g. model.family clip (got " + model.family() + ")");
        } else if (!images()) {
            c.oneOf("data.task", data.task(), TASKS);
        }
        c.oneOf("data.tokenizer", data.tokenizer(), TOKENIZERS);
        if ("text".equals(data.task())) {
            c.require(data.path() != null && !data.path().isBlank(),
                    "data.path: must be set for data.task=text (e.g. --set data.path=/path/to/input.txt)");
        }
        pairsProblems(c);
        imageProblems(c);
        captionProblems(c);
        initTokenizerProblems(c);
        if ("addition".equals(data.task())) {
            c.require("char".equals(data.tokenizer()), "data.tokenizer: data.task=addition uses the char tokenizer");
            int needed = 3 * data.digits() + 2;
            c.require(model.blockSize() >= needed, "model.block_size: must be >= " + needed
                    + " for " + data.digits() + "-digit addition (got " + model.blockSize() + ")");
        }
        c.atLeast("data.bpe_vocab_size", data.bpeVocabSize(), 257);
        c.below("data.val_fraction", data.valFraction(), 0, 1);
        c.inRange("data.digits", data.digits(), 1, 9);
        c.below("data.held_out_fraction", data.heldOutFraction(), 0, 1);
        if ("addition".equals(data.task())) {
            c.require(data.heldOutFraction() > 0, "data.held_out_fraction: must be > 0 for data.task=addition "
                    + "(exact match is measured on held-out pairs; e.g. 0.1)");
        }
        c.atLeast("data.eval_pairs", data.evalPairs(), 1);
        c.oneOf("data.format", data.format(), images() ? IMAGE_FORMATS : captions() ? CAPTION_FORMATS : DATA_FORMATS);
        c.require(data.textField() != null && !data.textField().isBlank(), "data.text_field: must name the field "
                + "(JSON Lines) or column (Parquet) holding the text (got " + Checks.quote(data.textField()) + ")");
        c.oneOf("data.streaming", data.streaming(), ShardReading.MODES);
        c.atLeast("data.stream_cache_blocks", data.streamCacheBlocks(), 1);
        c.inRange("data.stream_block_kib", data.streamBlockKib(), 1, 1 << 16);
        c.require(data.cacheDir() == null || !data.cacheDir().isBlank(), "data.cache_dir: must be null (prepare "
                + "into <run.dir>/data) or a local path or Hadoop URI (got '" + data.cacheDir() + "')");
        c.atLeast("train.max_steps", train.maxSteps(), 1);
        c.atLeast("train.batch_size", train.batchSize(), 1);
        c.atLeast("train.grad_accum", train.gradAccum(), 1);
        c.atLeast("train.lr", train.lr(), 0);
        c.atLeast("train.min_lr", train.minLr(), 0);
        c.require(train.minLr() <= train.lr(), "train.min_lr: must be <= train.lr (" + train.minLr() + " > "
                + train.lr() + ")");
        c.atLeast("train.warmup_steps", train.warmupSteps(), 0);
        c.atLeast("train.lr_decay_steps", train.lrDecaySteps(), 0);
        c.atLeast("train.weight_decay", train.weightDecay(), 0);
        c.below("train.beta1", train.beta1(), 0, 1);
        c.below("train.beta2", train.beta2(), 0, 1);
        c.atLeast("train.eps", train.eps(), 0);
        c.atLeast("train.grad_clip", train.gradClip(), 0);
        c.atLeast("train.eval_every", train.evalEvery(), 0);
        c.atLeast("train.eval_batches", train.evalBatches(), 1);
        c.atLeast("train.log_every", train.logEvery(), 1);
        c.atLeast("checkpoint.every", checkpoint.every(), 0);
        c.atLeast("checkpoint.keep_last", checkpoint.keepLast(), 0);
        c.atLeast("checkpoint.commit_timeout_seconds", checkpoint.commitTimeoutSeconds(), 0.001);
        c.atLeast("parallel.dp", parallel.dp(), 1);
        c.atLeast("parallel.tp", parallel.tp(), 1);
        c.atLeast("parallel.pp", parallel.pp(), 1);
        c.atLeast("parallel.ep", parallel.ep(), 1);
        c.atLeast("parallel.microbatches", parallel.microbatches(), 0);
        c.require(parallel.microbatches() <= 0 || parallel.microbatches() == train.gradAccum(), "parallel.microbatches: "
                + "disagrees with train.grad_accum (" + parallel.microbatches() + " != " + train.gradAccum() + "); both "
                + "are the micro-batches per step: set one of them (or both to the same value)");
        if (parallel.tp() > 1) {
            c.require(model.nHead() % parallel.tp() == 0, "parallel.tp: must divide model.n_head (" + model.nHead()
                    + " heads over " + parallel.tp() + " ranks); choose tp among the divisors of n_head");
            c.require(zero.stage() <= 1, "zero.stage: at most 1 with parallel.tp > 1 (got " + zero.stage() + ")");
            if (parallel.sequenceParallel()) {
                c.require(model.blockSize() % parallel.tp() == 0, "model.block_size: must be divisible by parallel.tp "
                        + "with parallel.sequence_parallel (" + model.blockSize() + " positions over " + parallel.tp()
                        + " ranks); choose a multiple of tp, or set parallel.sequence_parallel=false");
                int additionLength = 3 * data.digits() + 2;
                c.require(!"addition".equals(data.task()) || additionLength % parallel.tp() == 0, "data.digits: the "
                        + "addition task's sequences of 3 x digits + 2 = " + additionLength + " tokens must be divisible "
                        + "by parallel.tp with parallel.sequence_parallel; change data.digits or parallel.tp, or set "
                        + "parallel.sequence_parallel=false");
            }
        }
        c.oneOf("parallel.schedule", parallel.schedule(), PipelineSchedule.NAMES);
        if (parallel.pp() > 1) {
            c.require(parallel.pp() <= model.nLayer(), "parallel.pp: " + parallel.pp() + " stages for "
                    + model.nLayer() + " layers; use at most model.n_layer stages");
            c.require(!"1f1b".equals(parallel.schedule()) || train.gradAccum() >= parallel.pp(), "parallel.microbatches: "
                    + "the 1f1b schedule needs at least parallel.pp micro-batches per step (" + train.gradAccum() + " < "
                    + parallel.pp() + "); raise parallel.microbatches (= train.grad_accum) or use parallel.schedule=gpipe");
            c.require(zero.stage() <= 1, "zero.stage: at most 1 with parallel.pp > 1 (got " + zero.stage() + ")");
        }
        if (parallel.ep() > 1) {
            c.require(model.moe() != null && model.moe().enabled(), "parallel.ep: expert parallelism splits the "
                    + "experts of MoE blocks, and model.moe.every is 0 (a dense model); set model.moe.every or "
                    + "parallel.ep=1");
            c.require(parallel.dp() % parallel.ep() == 0, "parallel.ep: must divide parallel.dp (" + parallel.ep()
                    + " does not divide " + parallel.dp() + "); expert-parallel ranks are data-parallel ranks");
            c.require(parallel.tp() == 1 && parallel.pp() == 1, "parallel.ep: expert parallelism runs with tp 1 and "
                    + "pp 1 (got tp " + parallel.tp() + ", pp " + parallel.pp() + ")");
        }
        if (parallel.dp() >= 1) {
            c.require(train.batchSize() >= parallel.dp() * Math.max(1, runtime.workers()), "train.batch_size: must be >= "
                    + "parallel.dp x runtime.workers (" + train.batchSize() + " < " + parallel.dp() + " x "
                    + runtime.workers() + "): every rank and worker takes a share of each micro-batch");
        }
        c.atLeast("parallel.grad_bucket_mib", parallel.gradBucketMib(), 0.001);
        c.inRange("zero.stage", zero.stage(), 0, 3);
        c.atLeast("comm.deadline_seconds", comm.deadlineSeconds(), 0.001);
        c.atLeast("comm.chunk_kib", comm.chunkKib(), 1);
        c.atLeast("comm.small_message_kib", comm.smallMessageKib(), 0);
        c.atLeast("comm.connect_timeout_seconds", comm.connectTimeoutSeconds(), 0.001);
        c.require(launch.master() != null && !launch.master().isBlank(),
                "launch.master: must be 'local' or a Spark master URL (spark://host:7077, yarn, k8s://...)");
        c.atLeast("launch.max_attempts", launch.maxAttempts(), 1);
        c.atLeast("runtime.threads", runtime.threads(), 0);
        c.atLeast("runtime.workers", runtime.workers(), 1);
        String oneWorker = oneWorkerReason();
        c.require(oneWorker == null || runtime.workers() <= 1, "runtime.workers: must be 1 with " + oneWorker + " (got "
                + runtime.workers() + "); set runtime.workers=auto (the default), which chooses 1 here");
        c.require(runtime.workers() <= train.batchSize(), "runtime.workers: must be <= train.batch_size ("
                + runtime.workers() + " > " + train.batchSize() + "): each worker takes a share of a micro-batch");
        c.require(generate.prompt() != null, "generate.prompt: must be a string, \"\" for none (got no value)");
        c.atLeast("generate.max_new_tokens", generate.maxNewTokens(), 0);
        c.atLeast("generate.temperature", generate.temperature(), 0);
        c.atLeast("generate.top_k", generate.topK(), 0);
        c.atLeast("generate.samples", generate.samples(), 0);
        diffusionProblems(c);
        distillProblems(c);
        pruneProblems(c);
        initTextProblems(c);
        if (report == null) {
            c.require(false, "report: must be a section (e.g. report: {loss_axis: auto})");
        } else {
            c.oneOf("report.loss_axis", report.lossAxis(), Report.LOSS_AXES);
        }
        return c.problems();
    }
}
