package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.launcher.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code megalith quantize} (int8 / fp16 files beside the run, read by {@code generate --weights}) and
 * {@code megalith eval}: the validation loss of a tiny text GPT as training logged it, from its checkpoint and from
 * quantized files.
 */
class QuantizeCommandTest {
    /** Wide enough (128) that the int8 file is about a quarter of the fp32 one: vectors and header are small. */
    static final String TINY_TEXT = """
            seed: 5
            run: {dir: runs/never-used, name: quantize-test}
            model: {n_layer: 1, n_head: 2, n_embd: 128, block_size: 16, dropout: 0.0}
            data: {task: text, path: "%s", tokenizer: char, val_fraction: 0.1}
            train: {max_steps: 20, batch_size: 8, warmup_steps: 2, eval_every: 10, eval_batches: 3}
            checkpoint: {every: 10, keep_last: 0}
            runtime: {threads: 1}
            launch: {master: inprocess}
            """;
    private static final Pattern VAL_LOSS = Pattern.compile("val_loss (\\S+) \\(");

    @TempDir
    static Path tmp;
    private static Path config;
    private static Path run;

    @BeforeAll
    static void trainATinyTextGpt() throws Exception {
        Path text = Files.writeString(tmp.resolve("words.txt"), words(20_000));
        config = Files.writeString(tmp.resolve("tiny.yaml"), TINY_TEXT.formatted(text));
        run = tmp.resolve("run");
        CliRun train = CliRun.of("train", "--config", config.toString(), "--set", "run.dir=" + run);
        assertThat(train.exit()).as(train.err()).isZero();
    }

    @Test
    void quantizeWritesSmallFilesGenerateReadsAndRefusesBadInput() throws Exception {
        Path fp32 = tmp.resolve("fp32.safetensors");
        assertThat(CliRun.of("ckpt", "export", run.toString(), "--out", fp32.toString()).exit()).isZero();

        CliRun int8 = CliRun.of("quantize", run.toString(), "--to", "int8");
        assertThat(int8.exit()).as(int8.err()).isZero();
        Path int8File = run.resolve("quantized/model-int8.safetensors");
        String bytes = String.format(Locale.ROOT, "%,d bytes", Files.size(int8File));
        assertThat(int8.out()).contains("of step 20 to", "model-int8.safetensors: " + bytes)
                .containsPattern("int8: [0-9,]+ bytes of weights, 0\\.2[0-9]+x the [0-9,]+ of fp32");
        assertThat((double) Files.size(int8File)).isLessThanOrEqualTo(0.27 * Files.size(fp32));

        // fp16 is f16 by its usual name; --out a directory gets the default file name
        Path dir = tmp.resolve("half");
        CliRun fp16 = CliRun.of("quantize", run.toString(), "--to", "fp16", "--out", dir.toString(), "--step", "10");
        assertThat(fp16.exit()).as(fp16.err()).isZero();
        assertThat(fp16.out()).contains("of step 10 to").containsPattern("fp16: [0-9,]+ bytes of weights, 0\\.500x");
        assertThat((double) Files.size(dir.resolve("model-fp16.safetensors"))).isLessThan(0.51 * Files.size(fp32));

        CliRun generate = CliRun.of("generate", "--run", run.toString(), "--weights", int8File.toString(), "--prompt",
                "the ", "-n", "12", "-t", "0");
        assertThat(generate.exit()).as(generate.err()).isZero();
        assertThat(generate.out()).contains("generating from " + int8File, "the ");

        Path never = tmp.resolve("never.safetensors");
        CliRun badTo = CliRun.of("quantize", run.toString(), "--to", "int4", "--out", never.toString());
        assertThat(badTo.exit()).isNotZero();
        assertThat(badTo.err()).contains("--to: int4 is not one of int8, fp16, bf16");
        assertThat(never).doesNotExist();
        assertThat(run.resolve("quantized")).isDirectoryNotContaining("glob:**int4*");

        Path noRun = tmp.resolve("no-such-run");
        CliRun missing = CliRun.of("quantize", noRun.toString(), "--to", "int8");
        assertThat(missing.exit()).isNotZero();
        assertThat(missing.err()).contains("RUN: " + noRun + " holds no complete checkpoint");
        assertThat(noRun).doesNotExist();
    }

    @Test
    void evalGivesTheLoggedValidationLossAndTheCostOfQuantization() throws Exception {
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        for (long step : new long[] {10, 20}) {
            double logged = CkptCommandTest.valLoss(metrics, step);
            double evaluated = evalLoss("--step", Long.toString(step));
            assertThat(evaluated).as("step %d", step).isEqualTo(logged); // the same computation, one thread each
        }
        double checkpoint = evalLoss();

        Path fp32 = tmp.resolve("eval-fp32.safetensors");
        assertThat(CliRun.of("ckpt", "export", run.toString(), "--out", fp32.toString()).exit()).isZero();
        assertThat(evalLoss("--weights", fp32.toString())).isCloseTo(checkpoint, Offset.offset(1e-6));

        Path int8 = tmp.resolve("eval-int8.safetensors");
        assertThat(CliRun.of("quantize", run.toString(), "--to", "int8", "--out", int8.toString()).exit()).isZero();
        double quantized = evalLoss("--weights", int8.toString());
        assertThat(quantized).isNotEqualTo(checkpoint).isCloseTo(checkpoint, Offset.offset(0.05 * checkpoint));

        // one-shot magnitude pruning: a little costs little, most of the layers' weights cost much more
        double prunedLightly = evalLoss("--prune", "0.1");
        double prunedHard = evalLoss("--prune", "0.9");
        assertThat(prunedLightly).isNotEqualTo(checkpoint).isCloseTo(checkpoint, Offset.offset(0.05 * checkpoint));
        assertThat(prunedHard).isGreaterThan(prunedLightly);
        CliRun badPrune = CliRun.of("eval", "--run", run.toString(), "--prune", "1");
        assertThat(badPrune.exit()).isNotZero();
        assertThat(badPrune.err()).contains("--prune: must be in [0, 1)");

        CliRun badBatches = CliRun.of("eval", "--run", run.toString(), "--batches", "0");
        assertThat(badBatches.exit()).isNotZero();
        assertThat(badBatches.err()).contains("--batches: must be at least 1");
        CliRun noRun = CliRun.of("eval", "--run", tmp.resolve("no-such-run").toString());
        assertThat(noRun.exit()).isNotZero();
        assertThat(noRun.err()).contains("--run: ").contains("holds no complete checkpoint");
    }

    /**
     * Structured pruning: the export is a smaller dense GPT; eval and generate read it as is, and a run of its shape
     * fine-tunes from it.
     */
    @Test
    void structuredPruningExportsASmallerGptThatLoadsAsItsShape() throws Exception {
        Path fp32 = tmp.resolve("whole.safetensors");
        assertThat(CliRun.of("ckpt", "export", run.toString(), "--out", fp32.toString()).exit()).isZero();
        Path dir = tmp.resolve("structured");
        CliRun export = CliRun.of("ckpt", "export", run.toString(), "--out", dir.toString(), "--prune-heads", "0.5",
                "--prune-neurons", "0.5", "--with-tokenizer");
        assertThat(export.exit()).as(export.err()).isZero();
        assertThat(export.out()).contains("structured pruning: 2 -> 1 heads of 64 and 512 -> 256 MLP hidden units in "
                + "each of 1 blocks", "model.n_head=1 model.head_size=64 model.mlp_hidden=256");
        Path pruned = dir.resolve("model.safetensors");
        assertThat((double) Files.size(pruned)).isLessThan(0.8 * Files.size(fp32));

        double whole = evalLoss();
        double cut = evalLoss("--weights", pruned.toString());
        assertThat(cut).isGreaterThan(whole).isLessThan(10);
        CliRun generate = CliRun.of("generate", "--run", run.toString(), "--weights", pruned.toString(), "--prompt",
                "the ", "-n", "8", "-t", "0");
        assertThat(generate.exit()).as(generate.err()).isZero();

        Path tuned = tmp.resolve("structured-tuned");
        CliRun tune = CliRun.of("train", "--config", config.toString(), "--set", "run.dir=" + tuned, "--set",
                "checkpoint.init_from=" + pruned, "--set", "checkpoint.init_tokenizer=" + dir.resolve("tokenizer.json"),
                "--set", "model.n_head=1", "--set", "model.head_size=64", "--set", "model.mlp_hidden=256");
        assertThat(tune.exit()).as(tune.err()).isZero();
        CliRun inspect = CliRun.of("ckpt", "inspect", tuned.toString());
        assertThat(inspect.out()).contains("head_size: 64", "mlp_hidden: 256");
        // the run's shape must be the file's: a wrong one is named
        CliRun wrong = CliRun.of("train", "--config", config.toString(), "--set", "run.dir=" + tmp.resolve("wrong"),
                "--set", "checkpoint.init_from=" + pruned, "--set", "checkpoint.init_tokenizer="
                        + dir.resolve("tokenizer.json"));
        assertThat(wrong.exit()).isNotZero();
        assertThat(wrong.err()).contains("set model.n_head=1 model.head_size=64 model.mlp_hidden=256");

        Path never = tmp.resolve("never-pruned");
        CliRun bad = CliRun.of("ckpt", "export", run.toString(), "--out", never.toString(), "--prune-heads", "1");
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.err()).contains("--prune-heads and --prune-neurons: fractions in [0, 1)");
        assertThat(never).doesNotExist();
    }

    /** A Spark launch reads the shards Spark prepared (in run.dir/data): eval reads them too. */
    @Test
    void evalOfASparkLaunchedRunReadsItsPreparedShards() throws Exception {
        Path spark = tmp.resolve("spark-run");
        CliRun train = CliRun.of("train", "--config", config.toString(), "--set", "run.dir=" + spark, "--set",
                "launch.master=local", "--set", "train.max_steps=10");
        assertThat(train.exit()).as(train.err()).isZero();
        double logged = CkptCommandTest.valLoss(Files.readAllLines(spark.resolve("metrics.jsonl")), 10);
        CliRun eval = CliRun.of("eval", "--run", spark.toString(), "--threads", "1");
        assertThat(eval.exit()).as(eval.err()).isZero();
        assertThat(eval.out()).containsPattern("megalith: data: text: .* shards .* in \\S*"
                + Pattern.quote(spark.resolve("data").toString()));
        Matcher m = VAL_LOSS.matcher(eval.out());
        assertThat(m.find()).isTrue();
        assertThat(Double.parseDouble(m.group(1))).isEqualTo(logged);
    }

    @Test
    void evalRefusesARunOfAnotherFamily() throws Exception {
        Path reverse = tmp.resolve("reverse");
        Path cfg = Files.writeString(tmp.resolve("reverse.yaml"), """
                seed: 7
                run: {dir: "%s", name: reverse-eval}
                model: {family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 1, n_head: 2, n_embd: 16,
                        dropout: 0.0}
                data: {task: reverse, min_len: 2, max_len: 4, held_out_fraction: 0.1, eval_pairs: 4}
                train: {max_steps: 2, batch_size: 4, warmup_steps: 1, eval_every: 0, eval_batches: 1}
                runtime: {threads: 1}
                launch: {master: inprocess}
                """.formatted(reverse));
        CliRun train = CliRun.of("train", "--config", cfg.toString());
        assertThat(train.exit()).as(train.err()).isZero();
        CliRun eval = CliRun.of("eval", "--run", reverse.toString());
        assertThat(eval.exit()).isNotZero();
        assertThat(eval.err()).contains("is a encoder_decoder run; eval supports GPT runs");
    }

    /** The loss {@code megalith eval} prints for the run (one libtorch thread, as it was trained). */
    private static double evalLoss(String... options) {
        List<String> args = new java.util.ArrayList<>(List.of("eval", "--run", run.toString(), "--threads", "1"));
        args.addAll(List.of(options));
        CliRun eval = CliRun.of(args.toArray(String[]::new));
        assertThat(eval.exit()).as(eval.err()).isZero();
        Matcher m = VAL_LOSS.matcher(eval.out());
        assertThat(m.find()).as(eval.out()).isTrue();
        assertThat(eval.out()).contains("(3 batches of 8 rows)");
        return Double.parseDouble(m.group(1));
    }

    /** Seeded word salad: enough structure for a few steps to learn, the same every run. */
    private static String words(int chars) {
        String[] vocabulary = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "red", "door"};
        Random r = new Random(11);
        StringBuilder b = new StringBuilder();
        while (b.length() < chars) {
            b.append(vocabulary[r.nextInt(vocabulary.length)]).append(r.nextInt(8) == 0 ? ".\n" : " ");
        }
        return b.toString();
    }
}
