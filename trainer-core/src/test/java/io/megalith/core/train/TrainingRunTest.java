package io.megalith.core.train;

import static io.megalith.core.train.TinyRuns.CONF;
import static io.megalith.core.train.TinyRuns.metrics;
import static io.megalith.core.train.TinyRuns.series;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.AdditionData;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TrainingData;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.gpt.GptRun;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedGpt;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One small addition run trained for a couple hundred steps, then inspected. */
class TrainingRunTest {
    private static final int STEPS = 200;

    @TempDir
    static Path tmp;

    private static MegalithConfig cfg;
    private static TrainingRun.Summary summary;
    private static List<Map<String, Object>> records;
    private static ByteArrayOutputStream console;

    @BeforeAll
    static void train() throws Exception {
        cfg = TinyRuns.addition(tmp.resolve("run"), "model.n_layer=2", "model.n_head=4", "model.dropout=0.0",
                "train.batch_size=32", "train.grad_accum=1", "train.max_steps=" + STEPS, "train.warmup_steps=10",
                "train.lr=1.0e-2", "train.min_lr=1.0e-3", "train.eval_every=100", "checkpoint.every=100",
                "data.eval_pairs=50");
        console = new ByteArrayOutputStream();
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, CONF, new PrintStream(console, true, StandardCharsets.UTF_8))) {
            summary = run.run();
        }
        records = metrics(cfg);
    }

    @Test
    void lossFallsClearly() {
        List<Double> loss = series(records, "loss");
        assertThat(loss).hasSize(STEPS);
        double initial = mean(loss.subList(0, 5));
        double last = mean(loss.subList(STEPS - 10, STEPS));
        System.out.printf("addition loss: first 5 steps %.4f, last 10 steps %.4f, val %.4f -> %.4f, exact match %s%n",
                initial, last, ((Number) records.get(0).get("val_loss")).doubleValue(), summary.valLoss(),
                summary.exactMatch());
        assertThat(initial).isGreaterThan(2.0); // ~ln(12) for a fresh model
        assertThat(last).as("mean loss of the last 10 steps vs the first 5 (%s)", initial).isLessThan(0.6 * initial);
        double firstVal = ((Number) records.get(0).get("val_loss")).doubleValue();
        assertThat(summary.valLoss()).isLessThan(0.6 * firstVal);
        assertThat(summary.startStep()).isZero();
        assertThat(summary.endStep()).isEqualTo(STEPS);
        assertThat(summary.lastLoss()).isEqualTo(loss.get(STEPS - 1));
        assertThat(summary.exactMatch()).isNotNull().isBetween(0.0, 1.0);
        assertThat(summary.samples()).hasSize(8).allMatch(s -> s.matches("\\d\\d\\+\\d\\d=\\d{3}.*"));
    }

    @Test
    void metricsHaveEveryFieldFiniteAndOneRecordPerStep() {
        assertThat(records).hasSize(STEPS + 1);
        Map<String, Object> first = records.get(0);
        assertThat(first.get("step")).isEqualTo(0L);
        assertThat(first).containsKeys("val_loss", "exact_match").doesNotContainKey("loss");
        for (int i = 1; i <= STEPS; i++) {
            Map<String, Object> r = records.get(i);
            assertThat(r.get("step")).isEqualTo((long) i);
            for (String key : List.of("loss", "lr", "grad_norm", "tokens_per_sec", "step_ms", "rss_mib")) {
                assertThat(r.get(key)).as("%s of step %d", key, i).isInstanceOf(Number.class);
                double v = ((Number) r.get(key)).doubleValue();
                assertThat(Double.isFinite(v)).as("%s of step %d = %s", key, i, v).isTrue();
            }
            assertThat(((Number) r.get("loss")).doubleValue()).isPositive();
            assertThat(((Number) r.get("lr")).doubleValue()).isBetween(0.0, 1.0e-2 + 1e-12);
            boolean eval = i % 100 == 0;
            assertThat(r.containsKey("val_loss")).as("val_loss at step %d", i).isEqualTo(eval);
            assertThat(r.containsKey("exact_match")).as("exact_match at step %d", i).isEqualTo(eval);
        }
        // warmup to 1e-2 then cosine decay to 1e-3 at the last step
        assertThat(series(records, "lr").get(9)).isEqualTo(1.0e-2 * 10 / 11, Offset.offset(1e-12));
        assertThat(series(records, "lr").get(STEPS - 1)).isCloseTo(1.0e-3, Offset.offset(1e-6));
    }

    @Test
    void checkpointsAndChartAreWritten() throws Exception {
        assertThat(new CheckpointStore(cfg.run().dir(), CONF, 0).completeSteps()).containsExactly(100L, 200L);
        Path png = Path.of(cfg.run().dir(), "loss.png");
        assertThat(png).exists();
        byte[] head = Arrays.copyOf(Files.readAllBytes(png), 8);
        assertThat(head).isEqualTo(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        assertThat(Path.of(cfg.run().dir(), TrainingRun.CONFIG_FILE)).exists();
        assertThat(Path.of(cfg.run().dir(), TrainingRun.TOKENIZER_FILE)).exists();
    }

    @Test
    void rerunOfAFinishedRunTrainsNoMoreSteps() throws Exception {
        byte[] before = Files.readAllBytes(Path.of(cfg.run().dir(), "metrics.jsonl"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TrainingRun.Summary again;
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, CONF, new PrintStream(out, true, StandardCharsets.UTF_8))) {
            assertThat(run.startStep()).isEqualTo(STEPS);
            again = run.run();
        }
        assertThat(again.startStep()).isEqualTo(STEPS);
        assertThat(again.endStep()).isEqualTo(STEPS);
        assertThat(again.trainSeconds()).isZero();
        assertThat(again.valLoss()).isEqualTo(summary.valLoss());
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("already trained to step " + STEPS);
        assertThat(Files.readAllBytes(Path.of(cfg.run().dir(), "metrics.jsonl"))).isEqualTo(before);
        assertThat(new CheckpointStore(cfg.run().dir(), CONF, 0).completeSteps()).containsExactly(100L, 200L);
    }

    @Test
    void trainedModelLoadsTheSameModel() throws Exception {
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, CONF, TinyRuns.QUIET);
                TrainedGpt loaded = TrainedGpt.load(RunCheckpoint.latest(cfg.run().dir()), CONF, 1)) {
            assertThat(loaded.step()).isEqualTo(STEPS);
            assertThat(loaded.config()).isEqualTo(cfg);
            assertThat(loaded.tokenizer().vocabSize()).isEqualTo(AdditionData.ALPHABET.length());
            assertThat(loaded.model().config()).isEqualTo(((GptRun) run.rankModel()).model().config());
            TrainingData data = ((GptRun) run.rankModel()).data();
            try (NDManager m = loaded.manager().newSubManager(); NDScope scope = new NDScope()) {
                for (int i = 0; i < 2; i++) {
                    Batch b = data.validation(i, 16);
                    PtNDArray ids = Ops.longs(m, b.inputs(), b.size(), b.seqLen());
                    float lossRun = ((GptRun) run.rankModel()).model().loss(ids, Targets.of(m, b.targets()), ForwardContext.inference(m)).getFloat();
                    float lossLoaded = loaded.model().loss(ids, Targets.of(m, b.targets()), ForwardContext.inference(m))
                            .getFloat();
                    assertThat(lossLoaded).isEqualTo(lossRun);
                    float[] logitsRun = ((GptRun) run.rankModel()).model().logits(ids, ForwardContext.inference(m)).toFloatArray();
                    float[] logitsLoaded = loaded.model().logits(ids, ForwardContext.inference(m)).toFloatArray();
                    assertThat(logitsLoaded).containsExactly(logitsRun);
                }
            }
            // the final evaluation, recomputed by a run resumed from the checkpoint (a finished run only evaluates)
            assertThat(run.run().valLoss()).isEqualTo(summary.valLoss());
        }
    }

    @Test
    void textWithoutNewlinesTrainsAndSamplesFromAnEmptyPrompt() throws Exception {
        // nanoGPT starts an empty prompt from "\n"; this text has no such character
        Path text = tmp.resolve("one-line.txt");
        Files.writeString(text, Files.readString(TinyRuns.writeText(tmp, 3000)).replace('\n', ' '));
        MegalithConfig c = TinyRuns.text(tmp.resolve("one-line"), text, "train.max_steps=3", "generate.prompt=",
                "generate.samples=2", "generate.max_new_tokens=20");
        assertThat(c.generate().prompt()).isEmpty();
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(c, CONF, TinyRuns.QUIET)) {
            TrainingRun.Summary s = run.run();
            assertThat(s.endStep()).isEqualTo(3);
            assertThat(s.samples()).hasSize(2).allSatisfy(sample -> assertThat(sample).hasSize(21).doesNotContain("\n"));
        }
    }

    private static double mean(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }
}
