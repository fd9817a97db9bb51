package io.megalith.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.megalith.core.lora.LoraConfig;
import io.megalith.core.train.report.LossChart;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * "Config in YAML, validated strictly before any work: an unknown key, a wrong type or an out-of-range
 * value exits non-zero with the YAML path and what is allowed."
 */
class ConfigLoaderTest {
    private static final String TRAIN_KEYS = "max_steps, batch_size, grad_accum, lr, min_lr, warmup_steps, "
            + "lr_decay_steps, weight_decay, beta1, beta2, eps, grad_clip, eval_every, eval_batches, log_every, activation_checkpointing";
    private static final String TOP_KEYS = "seed, run, model, data, train, checkpoint, runtime, parallel, zero, comm, finetune, launch, report, diffusion, distill, prune, generate";

    @TempDir
    Path dir;

    private Path write(String yaml) throws IOException {
        Path file = dir.resolve("run.yaml");
        Files.writeString(file, yaml);
        return file;
    }

    private MegalithConfig load(String yaml, String... sets) throws IOException {
        return ConfigLoader.load(write(yaml), List.of(sets));
    }

    private ConfigException rejected(String yaml, String... sets) throws IOException {
        Path file = write(yaml);
        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> ConfigLoader.load(file, List.of(sets)));
        assertThat(e).as("expected the config to be rejected:\n%s\n--set %s", yaml, List.of(sets)).isNotNull();
        assertThat(e.getMessage()).startsWith("invalid configuration (" + file + "):");
        return e;
    }

    /** The single problem of a rejected config. */
    private String problem(String yaml, String... sets) throws IOException {
        ConfigException e = rejected(yaml, sets);
        assertThat(e.problems()).as(e.getMessage()).hasSize(1);
        assertThat(e.getMessage()).contains(e.problems().get(0));
        return e.problems().get(0);
    }

    // ---- Layering ----
    @Test
    void defaultsLoadWithoutAFile() {
        MegalithConfig c = ConfigLoader.load(null, List.of());
        assertThat(c.seed()).isEqualTo(1337);
        assertThat(c.run()).isEqualTo(new MegalithConfig.Run("runs/default", "megalith"));
        assertThat(c.model()).isEqualTo(new MegalithConfig.Model(4, 4, 128, 64, 0, 0.0, false,
                new MegalithConfig.Moe(0, 4, 1, 1.25, 0.01, 0.001)));
        assertThat(c.data().task()).isEqualTo("addition");
        assertThat(c.data().path()).isNull();
        assertThat(c.data().tokenizer()).isEqualTo("char");
        assertThat(c.train().maxSteps()).isEqualTo(2000);
        assertThat(c.train().lr()).isEqualTo(1.0e-3);
        assertThat(c.train().minLr()).isEqualTo(1.0e-4);
        assertThat(c.train().eps()).isEqualTo(1.0e-8);
        assertThat(c.train().decayEnd()).isEqualTo(2000);
        assertThat(c.checkpoint()).isEqualTo(new MegalithConfig.Checkpoint(500, 3));
        assertThat(c.runtime().threads()).isZero();
        assertThat(c.generate().prompt()).isEmpty();
        assertThat(c.generate().temperature()).isEqualTo(0.8);
    }

    @Test
    void finetuneSectionBindsListsFromYamlAndSet() throws IOException {
        MegalithConfig defaults = ConfigLoader.load(null, List.of());
        assertThat(defaults.finetune().active()).isFalse();
        assertThat(defaults.finetune().loraConfig().enabled()).isFalse();
        assertThat(defaults.finetune().trains("blocks.0.attn.qkv.weight")).isTrue();
        MegalithConfig c = load("""
                finetune:
                  lora:
                    rank: 4
                    targets: [attn.qkv]
                """);
        assertThat(c.finetune().loraConfig()).isEqualTo(new LoraConfig(4, 16, List.of("attn.qkv")));
        assertThat(c.finetune().trains("blocks.0.attn.qkv.lora_a")).isTrue();
        assertThat(c.finetune().trains("blocks.0.attn.qkv.weight")).isFalse();
        MegalithConfig f = load("", "finetune.freeze=wte,blocks.0.");
        assertThat(f.finetune().freeze()).containsExactly("wte", "blocks.0.");
        assertThat(f.finetune().trains("wte.weight")).isFalse();
        assertThat(f.finetune().trains("blocks.1.mlp.fc.weight")).isTrue();
        assertThat(load("", "finetune.freeze=[wpe, lm_head]").finetune().freeze()).containsExactly("wpe", "lm_head");
        assertThat(load("", "finetune.lora.targets=").finetune().lora().targets()).isEmpty();
        assertThat(problem("", "finetune.lora.rank=4", "finetune.lora.targets=[]"))
                .startsWith("finetune.lora.targets: must name at least one linear layer");
        assertThat(problem("", "finetune.lora.rank=-1")).startsWith("finetune.lora.rank:");
    }

    @Test
    void distillSectionNamesATeacherAndChecksItsSettings() throws IOException {
        MegalithConfig defaults = ConfigLoader.load(null, List.of());
        assertThat(defaults.distill().active()).isFalse();
        String text = "data:\n  task: text\n  path: input.txt\n";
        MegalithConfig c = load(text, "distill.teacher=runs/teacher", "distill.temperature=4", "distill.alpha=0.9");
        assertThat(c.distill()).isEqualTo(new MegalithConfig.Distill("runs/teacher", "", 4.0, 0.9));
        assertThat(problem(text, "distill.teacher=runs/t", "distill.alpha=1.5")).startsWith("distill.alpha: must be in [0, 1]");
        assertThat(problem(text, "distill.teacher=runs/t", "distill.temperature=0")).startsWith("distill.temperature:");
        assertThat(problem(text, "distill.weights=t.safetensors")).startsWith("distill.weights: names the teacher's "
                + "weights, which need distill.teacher");
        assertThat(problem(text, "distill.teacher=runs/t", "parallel.tp=2"))
                .startsWith("distill.teacher: a student with parallel.tp > 1 is not supported");
        assertThat(problem("", "distill.teacher=runs/t", "data.task=addition"))
                .startsWith("distill.teacher: distillation learns next-token text");
        // a vit student of a vit teacher, any layout; its teacher is read from the run.dir only
        String[] vit = {"model.family=vit", "data.task=images", "data.builtin=shapes", "distill.teacher=runs/t"};
        assertThat(load("", concat(vit, "parallel.tp=2")).distill().active()).isTrue();
        assertThat(problem("", concat(vit, "distill.weights=t.safetensors")))
                .startsWith("distill.weights: a GPT teacher's exported weights; a vit teacher is read from its run.dir");
        assertThat(problem("", "model.family=bert", "data.task=text", "data.path=x", "distill.teacher=runs/t"))
                .startsWith("distill.teacher: distillation trains model.family gpt or vit (got bert)");
    }

    private static String[] concat(String[] a, String... b) {
        return java.util.stream.Stream.concat(java.util.Arrays.stream(a), java.util.Arrays.stream(b))
                .toArray(String[]::new);
    }

    @Test
    void initTextFromStartsATextToImageDitsEncoderOnly() throws IOException {
        assertThat(ConfigLoader.load(null, List.of()).checkpoint().initTextFrom()).isEmpty();
        assertThat(problem("", "checkpoint.init_text_from=runs/clip"))
                .startsWith("checkpoint.init_text_from: starts a text-to-image DiT's text encoder");
    }

    @Test
    void pooledTextIsATextToImageDitsKey() throws IOException {
        assertThat(ConfigLoader.load(null, List.of()).model().pooledText()).isFalse();
        assertThat(problem("", "model.pooled_text=true")).startsWith("model.pooled_text: adds the pooled caption");
        assertThat(load("", "model.family=dit", "data.task=captions", "data.path=x", "model.pooled_text=true").model()
                .pooledText()).isTrue();
    }

    @Test
    void dataStreamingIsAutoTrueOrFalse() throws IOException {
        MegalithConfig defaults = ConfigLoader.load(null, List.of());
        assertThat(defaults.data().streaming()).isEqualTo("auto");
        assertThat(defaults.data().shardReading().streams(1 << 20)).isFalse();
        assertThat(defaults.data().shardReading().streams(1L << 30)).isTrue();
        assertThat(load("data:\n  streaming: true\n").data().shardReading().streams(1)).isTrue();
        assertThat(load("", "data.streaming=false").data().shardReading().streams(1L << 40)).isFalse();
        assertThat(load("", "data.stream_cache_blocks=8").data().shardReading().cacheBlocks()).isEqualTo(8);
        assertThat(defaults.data().shardReading().blockBytes()).isEqualTo(64 << 10);
        assertThat(load("", "data.stream_block_kib=1024").data().shardReading().blockBytes()).isEqualTo(1 << 20);
        assertThat(problem("", "data.streaming=maybe")).startsWith("data.streaming: must be one of auto, true, false");
        assertThat(problem("", "data.stream_cache_blocks=0")).startsWith("data.stream_cache_blocks: must be >= 1");
        assertThat(problem("", "data.stream_block_kib=0")).startsWith("data.stream_block_kib:");
    }

    @Test
    void reportLossAxisIsAutoLinearOrLog() throws IOException {
        MegalithConfig defaults = ConfigLoader.load(null, List.of());
        assertThat(defaults.report().lossAxis()).isEqualTo("auto");
        assertThat(defaults.report().lossScale()).isEqualTo(LossChart.Scale.AUTO);
        assertThat(load("report:\n  loss_axis: log\n").report().lossScale()).isEqualTo(LossChart.Scale.LOG);
        assertThat(load("", "report.loss_axis=linear").report().lossScale()).isEqualTo(LossChart.Scale.LINEAR);
        assertThat(ConfigLoader.toYaml(defaults)).contains("report:\n  loss_axis: auto\n"); // --print-config
        assertThat(problem("report:\n  loss_axis: logarithmic\n"))
                .isEqualTo("report.loss_axis: must be one of auto, linear, log (got 'logarithmic')");
        assertThat(problem("", "report.loss_axis=LOG"))
                .isEqualTo("report.loss_axis: must be one of auto, linear, log (got 'LOG') [from --set report.loss_axis=LOG]");
    }

    @Test
    void checkpointCommitTimeoutIsAKey() throws IOException {
        assertThat(ConfigLoader.load(null, List.of()).checkpoint().commitTimeoutMillis()).isEqualTo(600_000);
        assertThat(load("", "checkpoint.commit_timeout_seconds=1.5").checkpoint().commitTimeoutMillis()).isEqualTo(1500);
        assertThat(problem("", "checkpoint.commit_timeout_seconds=0")).startsWith("checkpoint.commit_timeout_seconds:");
    }

    @Test
    void emptyFileAndEmptyYamlAreTheDefaults() throws IOException {
        MegalithConfig defaults = ConfigLoader.load(null, List.of());
        assertThat(load("")).isEqualTo(defaults);
        assertThat(load("# only a comment\n")).isEqualTo(defaults);
        assertThat(ConfigLoader.fromYaml("", List.of(), "text")).isEqualTo(defaults);
    }

    @Test
    void fileOverridesASubsetAndKeepsTheRest() throws IOException {
        MegalithConfig c = load("""
                seed: 7
                model:
                  n_embd: 64
                train:
                  max_steps: 50
                  lr: 3.0e-4
                """);
        assertThat(c.seed()).isEqualTo(7);
        assertThat(c.model().nEmbd()).isEqualTo(64);
        assertThat(c.model().nHead()).isEqualTo(4);
        assertThat(c.model().nLayer()).isEqualTo(4);
        assertThat(c.train().maxSteps()).isEqualTo(50);
        assertThat(c.train().lr()).isEqualTo(3.0e-4);
        assertThat(c.train().batchSize()).isEqualTo(12);
        assertThat(c.train().minLr()).isEqualTo(1.0e-4);
        assertThat(c.run().name()).isEqualTo("megalith");
    }

    @Test
    void setOverridesTheFileAndLaterSetsWin() throws IOException {
        MegalithConfig c = load("""
                train:
                  max_steps: 50
                  batch_size: 4
                """, "train.max_steps=70", "model.n_layer=2", "model.n_layer=3");
        assertThat(c.train().maxSteps()).isEqualTo(70);
        assertThat(c.train().batchSize()).isEqualTo(4);
        assertThat(c.model().nLayer()).isEqualTo(3);
    }

    @Test
    void setIsAppliedBeforeRangeChecks() throws IOException {
        // the file alone is invalid (task=text needs a path); --set completes it
        MegalithConfig c = load("data:\n  task: text\n", "data.path=/data/input.txt");
        assertThat(c.data().path()).isEqualTo("/data/input.txt");
    }

    @Test
    void setValuesParseAsYamlScalars() throws IOException {
        MegalithConfig c = load("", "train.lr=1e-3", "train.min_lr=1.0e-5", "train.eps=5E-9",
                "train.max_steps=42", "model.dropout=0.25", "train.weight_decay=0",
                "model.bias=true", "run.name=my-run", "run.dir=hdfs://nn:8020/runs/a", "generate.prompt=");
        assertThat(c.train().lr()).isEqualTo(0.001);
        assertThat(c.train().minLr()).isEqualTo(1.0e-5);
        assertThat(c.train().eps()).isEqualTo(5.0e-9);
        assertThat(c.train().maxSteps()).isEqualTo(42);
        assertThat(c.model().dropout()).isEqualTo(0.25);
        assertThat(c.train().weightDecay()).isZero();
        assertThat(c.model().bias()).isTrue();
        assertThat(c.run().name()).isEqualTo("my-run");
        assertThat(c.run().dir()).isEqualTo("hdfs://nn:8020/runs/a");
        assertThat(c.generate().prompt()).isEmpty();

        assertThat(load("model:\n  bias: true\n", "model.bias=false").model().bias()).isFalse();
        assertThat(load("generate:\n  prompt: hi\n", "generate.prompt=").generate().prompt()).isEmpty();
        assertThat(load("", "generate.prompt='quoted'").generate().prompt()).isEqualTo("quoted");
        assertThat(load("", "run.name= spaced ").run().name()).isEqualTo("spaced");
    }

    @Test
    void floatsInTheFileMayUseExponentsWithOrWithoutADot() throws IOException {
        MegalithConfig c = load("train:\n  lr: 1e-3\n  min_lr: 1.0e-4\n  eps: 1E-8\n  weight_decay: .5\n");
        assertThat(c.train().lr()).isEqualTo(1.0e-3);
        assertThat(c.train().minLr()).isEqualTo(1.0e-4);
        assertThat(c.train().eps()).isEqualTo(1.0e-8);
        assertThat(c.train().weightDecay()).isEqualTo(0.5);
        // an integer is a valid float
        assertThat(load("train:\n  lr: 2\n  min_lr: 1\n").train().lr()).isEqualTo(2.0);
    }

    @Test
    void setTextThatIsNotASingleScalarIsTakenLiterally() throws IOException {
        assertThat(load("", "generate.prompt=Q: what is 2+2?").generate().prompt()).isEqualTo("Q: what is 2+2?");
        assertThat(load("", "generate.prompt=[1, 2]").generate().prompt()).isEqualTo("[1, 2]");
        assertThat(load("", "generate.prompt=# heading").generate().prompt()).isEqualTo("# heading");
        assertThat(load("", "generate.prompt=a=b").generate().prompt()).isEqualTo("a=b");
        assertThat(load("", "run.name=\"unclosed").run().name()).isEqualTo("\"unclosed");
    }

    @Test
    void numbersAreAcceptedWhereAStringIsExpected() throws IOException {
        assertThat(load("run:\n  name: 123\n").run().name()).isEqualTo("123");
        assertThat(load("", "run.name=123").run().name()).isEqualTo("123");
        assertThat(load("data:\n  task: text\n  path: 42\n").data().path()).isEqualTo("42");
    }

    // ---- UnknownKeys ----
    @Test
    void atTopLevel() throws IOException {
        String p = problem("sead: 1\n");
        assertThat(p).isEqualTo("sead: unknown key 'sead'; did you mean 'seed'. Allowed here: " + TOP_KEYS);
    }

    @Test
    void inASection() throws IOException {
        String p = problem("train:\n  max_stpes: 5\n");
        assertThat(p).startsWith("train.max_stpes: unknown key 'max_stpes'")
                .contains("did you mean 'max_steps'")
                .endsWith("Allowed here: " + TRAIN_KEYS);
    }

    @Test
    void unknownSection() throws IOException {
        String p = problem("trian:\n  lr: 0.1\n");
        assertThat(p).startsWith("trian: unknown key 'trian'").contains("did you mean 'train'").contains(TOP_KEYS);
    }

    @Test
    void viaSet() throws IOException {
        String p = problem("", "train.max_stpes=5");
        assertThat(p).contains("--set train.max_stpes=5")
                .contains("train.max_stpes: unknown key 'max_stpes'")
                .contains("did you mean 'max_steps'")
                .endsWith("Allowed here: " + TRAIN_KEYS);

        assertThat(problem("", "trian.lr=0.1")).contains("trian: unknown key 'trian'")
                .contains("did you mean 'train'").contains(TOP_KEYS);
        assertThat(problem("", "sed=1")).contains("sed: unknown key 'sed'").contains("did you mean 'seed'");
    }

    @Test
    void setBelowAValueIsRejected() throws IOException {
        assertThat(problem("", "train.max_steps.x=5"))
                .contains("--set train.max_steps.x=5").contains("train.max_steps is a value, not a section");
    }

    @Test
    void noSuggestionForAKeyUnlikeAnyOther() throws IOException {
        String p = problem("model:\n  colour: blue\n");
        assertThat(p).startsWith("model.colour: unknown key 'colour'").doesNotContain("did you mean")
                .contains("Allowed here: n_layer, n_head, n_embd, block_size, vocab_size, dropout, bias");
    }

    @Test
    void everyUnknownKeyIsReportedAtOnce() throws IOException {
        ConfigException e = rejected("""
                foo: 1
                train:
                  max_stpes: 5
                  bacth_size: 3
                """, "model.n_heads=2");
        assertThat(e.problems()).hasSize(4);
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("foo: unknown key 'foo'"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("train.max_stpes: unknown key")
                .contains("did you mean 'max_steps'"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("train.bacth_size: unknown key")
                .contains("did you mean 'batch_size'"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("model.n_heads: unknown key")
                .contains("did you mean 'n_head'"));
    }

    @Test
    void unknownKeysAndRangeProblemsAreReportedTogether() throws IOException {
        ConfigException e = rejected("train:\n  max_stpes: 5\n  max_steps: 0\n");
        assertThat(e.problems()).containsExactly(
                "train.max_stpes: unknown key 'max_stpes'; did you mean 'max_steps'. Allowed here: " + TRAIN_KEYS,
                "train.max_steps: must be >= 1 (got 0)");
    }

    @Test
    void duplicateKeysAreRejected() throws IOException {
        String p = problem("train:\n  max_steps: 5\n  max_steps: 6\n");
        assertThat(p).contains("line 3").contains("Duplicate field 'max_steps'");
    }

    // ---- WrongTypes ----
    @Test
    void stringForAnInteger() throws IOException {
        assertThat(problem("train:\n  max_steps: abc\n"))
                .isEqualTo("train.max_steps: expected an integer, got the string 'abc'");
        assertThat(problem("", "train.max_steps=abc"))
                .isEqualTo("train.max_steps: expected an integer, got the string 'abc' [from --set train.max_steps=abc]");
        assertThat(problem("train:\n  max_steps: \"100\"\n"))
                .isEqualTo("train.max_steps: expected an integer, got the string '100'");
        assertThat(problem("", "train.max_steps="))
                .isEqualTo("train.max_steps: expected an integer, got the string '' [from --set train.max_steps=]");
    }

    @Test
    void floatForAnInteger() throws IOException {
        assertThat(problem("train:\n  batch_size: 1.5\n")).isEqualTo("train.batch_size: expected an integer, got 1.5");
        assertThat(problem("seed: 1.5\n")).isEqualTo("seed: expected an integer, got 1.5");
        assertThat(problem("train:\n  max_steps: 1.0\n")).startsWith("train.max_steps: expected an integer");
        assertThat(problem("", "train.max_steps=1e3")).startsWith("train.max_steps: expected an integer");
    }

    @Test
    void integerOutOfRangeOfItsType() throws IOException {
        assertThat(problem("train:\n  max_steps: 3000000000\n"))
                .startsWith("train.max_steps: ").contains("3000000000").contains("out of range of int");
    }

    @Test
    void stringForABoolean() throws IOException {
        assertThat(problem("model:\n  bias: \"yes\"\n"))
                .isEqualTo("model.bias: expected true or false, got the string 'yes'");
        assertThat(problem("model:\n  bias: \"true\"\n"))
                .isEqualTo("model.bias: expected true or false, got the string 'true'");
        assertThat(problem("model:\n  bias: 1\n")).isEqualTo("model.bias: expected true or false, got 1");
    }

    @Test
    void stringOrBooleanForAFloat() throws IOException {
        assertThat(problem("train:\n  lr: \"abc\"\n")).isEqualTo("train.lr: expected a number, got the string 'abc'");
        assertThat(problem("train:\n  lr: \"1e-3\"\n")).isEqualTo("train.lr: expected a number, got the string '1e-3'");
        assertThat(problem("", "train.lr=fast")).isEqualTo("train.lr: expected a number, got the string 'fast' [from --set train.lr=fast]");
        assertThat(problem("train:\n  lr: true\n")).isEqualTo("train.lr: expected a number, got true");
    }

    @Test
    void nullForAPrimitive() throws IOException {
        assertThat(problem("train:\n  max_steps: null\n"))
                .isEqualTo("train.max_steps: expected an integer, got no value (null)");
        assertThat(problem("", "model.dropout=~")).isEqualTo("model.dropout: expected a number, got no value (null) [from --set model.dropout=~]");
    }

    @Test
    void nullForARequiredString() throws IOException {
        assertThat(problem("run:\n  name: null\n")).startsWith("run.name: must be a string");
        assertThat(problem("generate:\n  prompt: ~\n")).startsWith("generate.prompt: must be a string");
    }

    @Test
    void scalarWhereASectionIsExpected() throws IOException {
        String expected = "train: expected a section (a mapping with keys " + TRAIN_KEYS + "), got 5";
        assertThat(problem("train: 5\n")).isEqualTo(expected);
        assertThat(problem("", "train=5")).contains("--set train=5").contains(expected)
                .contains("e.g. --set train.max_steps=");
        assertThat(problem("train: [1, 2]\n")).startsWith("train: expected a section").endsWith("got a list");
        assertThat(problem("model:\n")).startsWith("model: expected a section (a mapping with keys n_layer,");
    }

    @Test
    void sectionWhereAScalarIsExpected() throws IOException {
        assertThat(problem("train:\n  max_steps:\n    value: 5\n"))
                .isEqualTo("train.max_steps: expected an integer, got a section (mapping)");
        assertThat(problem("data:\n  path:\n    file: x\n"))
                .isEqualTo("data.path: expected a string, got a section (mapping)");
        assertThat(problem("seed: [1]\n")).isEqualTo("seed: expected an integer, got a list");
        assertThat(problem("model:\n  bias: {a: 1}\n"))
                .isEqualTo("model.bias: expected true or false, got a section (mapping)");
    }

    @Test
    void topLevelMustBeAMapping() throws IOException {
        assertThat(problem("- a\n- b\n")).startsWith("top level: must be a mapping of sections");
        assertThat(problem("just text\n")).startsWith("top level: must be a mapping of sections");
    }

    // ---- Ranges ----
    @Test
    void maxStepsZero() throws IOException {
        assertThat(problem("train:\n  max_steps: 0\n")).isEqualTo("train.max_steps: must be >= 1 (got 0)");
        assertThat(problem("", "train.max_steps=-5")).isEqualTo("train.max_steps: must be >= 1 (got -5) [from --set train.max_steps=-5]");
        assertThat(load("train:\n  max_steps: 1\n").train().maxSteps()).isEqualTo(1);
    }

    @Test
    void dropoutOne() throws IOException {
        assertThat(problem("model:\n  dropout: 1.0\n")).isEqualTo("model.dropout: must be in [0.0, 1.0) (got 1.0)");
        assertThat(problem("model:\n  dropout: -0.1\n")).isEqualTo("model.dropout: must be in [0.0, 1.0) (got -0.1)");
        assertThat(load("model:\n  dropout: 0.99\n").model().dropout()).isEqualTo(0.99);
    }

    @Test
    void beta2One() throws IOException {
        assertThat(problem("train:\n  beta2: 1.0\n")).isEqualTo("train.beta2: must be in [0.0, 1.0) (got 1.0)");
        assertThat(load("train:\n  beta2: 0.999\n").train().beta2()).isEqualTo(0.999);
    }

    @Test
    void nEmbdNotDivisibleByNHead() throws IOException {
        assertThat(problem("model:\n  n_embd: 100\n  n_head: 3\n"))
                .startsWith("model.n_embd: must be divisible by model.n_head").contains("100 % 3");
        assertThat(load("model:\n  n_embd: 96\n  n_head: 3\n").model().nEmbd()).isEqualTo(96);
    }

    @Test
    void minLrAboveLr() throws IOException {
        assertThat(problem("train:\n  lr: 1e-4\n  min_lr: 1e-3\n"))
                .isEqualTo("train.min_lr: must be <= train.lr (0.001 > 1.0E-4)");
        assertThat(load("train:\n  lr: 1e-4\n  min_lr: 1e-4\n").train().minLr()).isEqualTo(1e-4);
    }

    @Test
    void textTaskWithoutPath() throws IOException {
        assertThat(problem("data:\n  task: text\n"))
                .startsWith("data.path: must be set for data.task=text").contains("--set data.path=");
        assertThat(problem("data:\n  task: text\n  path: \"  \"\n")).startsWith("data.path: must be set");
    }

    @Test
    void unknownTaskAndTokenizer() throws IOException {
        assertThat(problem("data:\n  task: video\n"))
                .isEqualTo("data.task: must be one of text, addition, reverse, pairs, classify, speakers (got 'video')");
        assertThat(problem("", "data.task=")).isEqualTo("data.task: must be one of text, addition, reverse, pairs, classify, speakers (got '') [from --set data.task=]");
        ConfigException e = rejected("data:\n  task: text\n  path: in.txt\n  tokenizer: wordpiece\n");
        assertThat(e.problems()).containsExactly("data.tokenizer: must be one of char, bpe (got 'wordpiece')");
    }

    @Test
    void dataFormatTextFieldAndCacheDir() throws IOException {
        MegalithConfig d = load("data:\n  task: text\n  path: in/\n");
        assertThat(d.data().format()).isEqualTo("auto");
        assertThat(d.data().textField()).isEqualTo("text");
        assertThat(d.data().cacheDir()).isNull();
        MegalithConfig c = load("data:\n  task: text\n  path: in/*.parquet\n  format: parquet\n  text_field: body\n",
                "data.cache_dir=hdfs://nn:8020/cache");
        assertThat(c.data().format()).isEqualTo("parquet");
        assertThat(c.data().textField()).isEqualTo("body");
        assertThat(c.data().cacheDir()).isEqualTo("hdfs://nn:8020/cache");
        assertThat(problem("data:\n  format: csv\n"))
                .isEqualTo("data.format: must be one of auto, text, jsonl, parquet (got 'csv')");
        assertThat(problem("data:\n  text_field: \"\"\n")).startsWith("data.text_field: must name the field");
        assertThat(problem("", "data.cache_dir= ")).startsWith("data.cache_dir: must be null");
    }

    @Test
    void integerRangesPrintIntegers() throws IOException {
        assertThat(problem("data:\n  digits: 10\n  held_out_fraction: 0.5\n"))
                .isEqualTo("data.digits: must be in [1, 9] (got 10)");
    }

    @Test
    void consistencyOfTheAdditionTask() throws IOException {
        assertThat(problem("data:\n  digits: 3\nmodel:\n  block_size: 10\n"))
                .isEqualTo("model.block_size: must be >= 11 for 3-digit addition (got 10)");
        assertThat(problem("data:\n  tokenizer: bpe\n")).startsWith("data.tokenizer: data.task=addition uses");
    }

    /** Layouts that cannot work stop before any rank starts, naming the field to change. */
    @Test
    void impossibleParallelLayoutsAreRejectedNamingTheField() throws IOException {
        assertThat(problem("", "parallel.tp=3")).startsWith("parallel.tp: must divide model.n_head (4 heads over 3 ranks)");
        assertThat(problem("", "parallel.pp=5", "parallel.schedule=gpipe")).startsWith("parallel.pp: 5 stages for 4 layers");
        assertThat(problem("", "parallel.pp=2", "train.grad_accum=1"))
                .startsWith("parallel.microbatches: the 1f1b schedule needs at least parallel.pp micro-batches per step (1 < 2)");
        assertThat(load("", "parallel.pp=2", "parallel.schedule=gpipe").parallel().pp()).isEqualTo(2);
        assertThat(problem("", "parallel.tp=2", "zero.stage=2")).startsWith("zero.stage: at most 1 with parallel.tp > 1");
        assertThat(problem("", "parallel.pp=2", "parallel.microbatches=2", "runtime.workers=2"))
                .startsWith("runtime.workers: must be 1 with parallel.pp > 1");
        assertThat(problem("", "parallel.dp=4", "train.batch_size=2")).startsWith("train.batch_size: must be >= parallel.dp");
    }

    /** parallel.microbatches is Megatron's name for the micro-batches of a step, which train.grad_accum also sets. */
    @Test
    void microbatchesAndGradAccumAreOneQuantity() throws IOException {
        MegalithConfig c = load("", "parallel.pp=2", "parallel.microbatches=4");
        assertThat(c.train().gradAccum()).isEqualTo(4);
        assertThat(load("train:\n  grad_accum: 3\n").parallel().microbatches()).isZero();
        assertThat(load("", "train.grad_accum=3", "parallel.microbatches=3").train().gradAccum()).isEqualTo(3);
        assertThat(problem("", "train.grad_accum=3", "parallel.microbatches=4"))
                .startsWith("parallel.microbatches: disagrees with train.grad_accum (4 != 3)");
        assertThat(problem("", "parallel.microbatches=-1")).startsWith("parallel.microbatches: must be >= 0 (got -1)");
        // what a run saves (every key) loads back to the same config
        assertThat(ConfigLoader.fromYaml(ConfigLoader.toYaml(c), List.of(), "saved")).isEqualTo(c);
    }

    /** BERT classification tasks: bert only, a path, a held-out split, at least two speakers; BERT shape keys. */
    @Test
    void classificationTasksAndBertShapeKeys() throws IOException {
        MegalithConfig c = load("", "model.family=bert", "data.task=classify", "data.path=l.tsv", "model.pre_ln=true",
                "model.type_vocab_size=1", "data.speakers=3");
        assertThat(c.classification()).isTrue();
        assertThat(c.model().preLn()).isTrue();
        assertThat(c.model().typeVocabSize()).isEqualTo(1);
        assertThat(c.data().speakers()).isEqualTo(3);
        assertThat(load("").model().typeVocabSize()).isEqualTo(2);
        assertThat(problem("", "data.task=classify", "data.path=l.tsv"))
                .startsWith("data.task: classify (sequence classification) trains model.family bert (got gpt)");
        assertThat(problem("", "model.family=bert", "data.task=speakers"))
                .startsWith("data.path: must be set for data.task=speakers");
        assertThat(problem("", "model.family=bert", "data.task=speakers", "data.path=p.txt", "data.speakers=1"))
                .startsWith("data.speakers: must be >= 2");
        assertThat(problem("", "model.family=bert", "data.task=classify", "data.path=l.tsv",
                "data.held_out_fraction=0")).startsWith("data.held_out_fraction: must be > 0 for data.task=classify");
        assertThat(problem("", "model.family=bert", "model.type_vocab_size=0", "data.task=addition"))
                .startsWith("model.type_vocab_size: must be >= 1");
        // the shipped configs: pre-training base and fine-tuning from it
        MegalithConfig ft = ConfigLoader.load(Path.of("../conf/bert-speakers-finetune.yaml"), List.of());
        MegalithConfig base = ConfigLoader.load(Path.of("../conf/bert-shakespeare-mlm.yaml"), List.of());
        assertThat(ft.classification()).isTrue();
        assertThat(ft.checkpoint().initFrom()).isEqualTo(base.run().dir());
        assertThat(ft.model().blockSize()).isEqualTo(base.model().blockSize());
        assertThat(ft.model().nEmbd()).isEqualTo(base.model().nEmbd());
    }

    @Test
    void everyRangeProblemIsReportedAtOnce() throws IOException {
        ConfigException e = rejected("""
                model:
                  n_embd: 100
                  n_head: 3
                  dropout: 1.0
                data:
                  task: nope
                train:
                  max_steps: 0
                  lr: 1.0e-4
                  min_lr: 1.0e-3
                  beta2: 1.0
                """, "checkpoint.keep_last=-1");
        assertThat(e.problems()).containsExactlyInAnyOrder(
                "model.dropout: must be in [0.0, 1.0) (got 1.0)",
                "model.n_embd: must be divisible by model.n_head (100 % 3 != 0); choose n_embd a multiple of n_head",
                "data.task: must be one of text, addition, reverse, pairs, classify, speakers (got 'nope')",
                "train.max_steps: must be >= 1 (got 0)",
                "train.min_lr: must be <= train.lr (0.001 > 1.0E-4)",
                "train.beta2: must be in [0.0, 1.0) (got 1.0)",
                "checkpoint.keep_last: must be >= 0 (got -1) [from --set checkpoint.keep_last=-1]");
        for (String p : e.problems()) {
            assertThat(e.getMessage()).contains("\n  - " + p);
        }
    }

    // ---- InputErrors ----
    @Test
    void malformedYamlReportsTheLine() throws IOException {
        assertThat(problem("train:\n  max_steps: 5\n   lr: [1\n"))
                .startsWith("not valid YAML at line 3");
        assertThat(problem("seed: 1\nrun:\n  name: x\n  dir: \"unclosed\n")).startsWith("not valid YAML at line ");
    }

    @Test
    void missingFileReportsItsPath() {
        Path missing = dir.resolve("nope/absent.yaml");
        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> ConfigLoader.load(missing, List.of()));
        assertThat(e).isNotNull();
        assertThat(e.getMessage()).contains(missing.toAbsolutePath().toString());
        assertThat(e.problems()).containsExactly("config file not found: " + missing.toAbsolutePath());
        // a directory is not a config file either
        assertThat(catchThrowableOfType(ConfigException.class, () -> ConfigLoader.load(dir, List.of())))
                .isNotNull();
    }

    @Test
    void setWithoutEqualsIsRejectedWithAnExample() throws IOException {
        assertThat(problem("", "train.max_steps"))
                .isEqualTo("--set train.max_steps: expected key.path=value, e.g. --set train.max_steps=100");
        assertThat(problem("", "=5")).startsWith("--set =5: expected key.path=value, e.g.");
    }

    // ---- RoundTrip ----
    @Test
    void toYamlOfALoadedConfigParsesBackEqual() throws IOException {
        MegalithConfig c = load("""
                seed: 42
                run:
                  dir: file:///tmp/runs/x
                  name: shakespeare
                model:
                  n_layer: 6
                  n_embd: 192
                  n_head: 6
                  dropout: 0.2
                  bias: true
                data:
                  task: text
                  path: /data/input.txt
                  tokenizer: bpe
                train:
                  lr: 6e-4
                  min_lr: 6e-5
                  eps: 1e-9
                generate:
                  prompt: "ROMEO:"
                """, "train.max_steps=123");
        String yaml = ConfigLoader.toYaml(c);
        assertThat(yaml).contains("max_steps: 123").contains("n_embd: 192").doesNotContain("maxSteps")
                .doesNotStartWith("---");
        MegalithConfig back = ConfigLoader.fromYaml(yaml, List.of(), "round trip");
        assertThat(back).isEqualTo(c);
        assertThat(ConfigLoader.toYaml(back)).isEqualTo(yaml);

        // the defaults, too, and written to a file and loaded again
        MegalithConfig defaults = ConfigLoader.load(null, List.of());
        assertThat(load(ConfigLoader.toYaml(defaults))).isEqualTo(defaults);
    }

    @Test
    void stringsThatLookLikeOtherScalarsSurviveTheRoundTrip() {
        for (String s : List.of("1.50", "0x10", "007", "1e3", "123", "yes", "no", "on", "true", "null", "~", "",
                " padded ", "a: b", "# not a comment", "line one\nline two", "[1, 2]", "'quoted'", "-")) {
            MegalithConfig c = ConfigLoader.fromYaml("", List.of(), "defaults");
            c = new MegalithConfig(c.seed(), new MegalithConfig.Run("runs/x", s), c.model(), c.data(), c.train(),
                    c.checkpoint(), c.runtime(),
                    new MegalithConfig.Generate(s, 10, 1.0, 0, 1), c.parallel(), c.zero(), c.comm(), c.launch());
            String yaml = ConfigLoader.toYaml(c);
            assertThat(ConfigLoader.fromYaml(yaml, List.of(), "round trip"))
                    .as("string %s written as\n%s", s, yaml).isEqualTo(c);
        }
    }

    @Test
    void toJsonUsesSnakeCase() {
        MegalithConfig c = ConfigLoader.load(null, List.of("train.max_steps=9"));
        assertThat(ConfigLoader.toJson(c).at("/train/max_steps").asInt()).isEqualTo(9);
        assertThat(ConfigLoader.toJson(c).at("/model/n_embd").asInt()).isEqualTo(128);
    }

    @Test
    void fromYamlAppliesOverridesAndValidates() {
        MegalithConfig c = ConfigLoader.fromYaml("train:\n  max_steps: 10\n", List.of("train.max_steps=20"), "ckpt");
        assertThat(c.train().maxSteps()).isEqualTo(20);
        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> ConfigLoader.fromYaml("train:\n  max_stpes: 10\n", List.of(), "checkpoint config.yaml"));
        assertThat(e).isNotNull();
        assertThat(e.getMessage()).startsWith("invalid configuration (checkpoint config.yaml):")
                .contains("train.max_stpes: unknown key");
    }
}
