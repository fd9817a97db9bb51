package io.megalith.core.train;

import static io.megalith.core.train.TinyRuns.CONF;
import static io.megalith.core.train.TinyRuns.metrics;
import static io.megalith.core.train.TinyRuns.train;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A run interrupted after step 7 and resumed from its step-4 checkpoint must be indistinguishable from
 * an uninterrupted one: the same losses, gradient norms and final parameters, bit for bit (one libtorch
 * thread; dropout 0.1 and grad_accum 2 so the per-step, per-micro-batch random streams are exercised).
 */
class ResumeTest {
    @TempDir
    Path tmp;

    private MegalithConfig config(String task, String dir) throws IOException {
        Path runDir = tmp.resolve(dir);
        return "text".equals(task)
                ? TinyRuns.text(runDir, TinyRuns.writeText(tmp, 6000))
                : TinyRuns.addition(runDir);
    }

    @ParameterizedTest
    @ValueSource(strings = {"addition", "text"})
    void resumedRunReproducesTheUninterruptedRunBitForBit(String task) throws Exception {
        MegalithConfig straight = config(task, "straight");
        MegalithConfig crashed = config(task, "crashed");
        assertThat(straight.model().dropout()).isPositive();
        assertThat(straight.train().gradAccum()).isEqualTo(2);

        assertThat(train(straight, Long.MAX_VALUE)).isZero();
        assertThat(train(crashed, 7)).isZero();
        // the "crash" left steps 1..7 in the log and checkpoints of step 4 only
        assertThat(steps(metrics(crashed))).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L);
        assertThat(store(crashed).completeSteps()).containsExactly(4L);

        long resumedFrom = train(crashed, Long.MAX_VALUE);
        assertThat(resumedFrom).isEqualTo(4);

        assertSameTraining(straight, crashed, 5);
        assertSameFinalState(straight, crashed);
    }

    @ParameterizedTest
    @ValueSource(strings = {"addition", "text"})
    void metricsHoldExactlyOneRecordPerStepAfterResume(String task) throws Exception {
        MegalithConfig cfg = config(task, "run");
        train(cfg, 7);
        train(cfg, Long.MAX_VALUE);
        List<Map<String, Object>> records = metrics(cfg);
        assertThat(steps(records)).containsExactlyElementsOf(LongStream.rangeClosed(0, 12).boxed().toList());
        // evaluations where they belong: before training, every 4 steps, and at the end
        List<Long> evaluated = records.stream().filter(r -> r.containsKey("val_loss"))
                .map(r -> ((Number) r.get("step")).longValue()).toList();
        assertThat(evaluated).containsExactly(0L, 4L, 8L, 12L);
    }

    @Test
    void corruptNewestCheckpointIsSkippedAndResumeFallsBackToThePreviousOne() throws Exception {
        MegalithConfig straight = config("addition", "straight");
        MegalithConfig crashed = config("addition", "crashed");
        train(straight, Long.MAX_VALUE);

        train(crashed, 10);
        CheckpointStore store = store(crashed);
        assertThat(store.completeSteps()).containsExactly(4L, 8L);
        Path model = Path.of(crashed.run().dir(), "checkpoints", "step-00000008", "model-r00000.safetensors");
        flipByte(model, 0.6);

        long resumedFrom = train(crashed, Long.MAX_VALUE);
        assertThat(resumedFrom).as("the corrupt step-8 checkpoint must not be loaded").isEqualTo(4);

        assertSameTraining(straight, crashed, 5);
        assertSameFinalState(straight, crashed);
        assertThat(steps(metrics(crashed))).containsExactlyElementsOf(LongStream.rangeClosed(0, 12).boxed().toList());
    }

    @Test
    void checkpointWithoutManifestIsNotLoaded() throws Exception {
        MegalithConfig straight = config("addition", "straight");
        MegalithConfig crashed = config("addition", "crashed");
        train(straight, Long.MAX_VALUE);
        train(crashed, 9);
        // a save interrupted before its manifest was written
        Files.delete(Path.of(crashed.run().dir(), "checkpoints", "step-00000008", "manifest.json"));

        assertThat(train(crashed, Long.MAX_VALUE)).isEqualTo(4);
        assertSameTraining(straight, crashed, 5);
        assertSameFinalState(straight, crashed);
    }

    // ---------------------------------------------------------------- helpers

    private static void assertSameTraining(MegalithConfig expected, MegalithConfig actual, long fromStep)
            throws IOException {
        Map<Long, Map<String, Object>> a = byStep(metrics(expected));
        Map<Long, Map<String, Object>> b = byStep(metrics(actual));
        assertThat(b.keySet()).containsAll(a.keySet());
        for (long step = fromStep; step <= expected.train().maxSteps(); step++) {
            for (String key : List.of("loss", "grad_norm", "lr")) {
                double x = ((Number) a.get(step).get(key)).doubleValue();
                double y = ((Number) b.get(step).get(key)).doubleValue();
                assertThat(Double.doubleToRawLongBits(y)).as("%s of step %d: %s vs %s", key, step, y, x)
                        .isEqualTo(Double.doubleToRawLongBits(x));
            }
            if (a.get(step).containsKey("val_loss")) {
                assertThat(b.get(step).get("val_loss")).as("val_loss of step %d", step).isEqualTo(a.get(step).get("val_loss"));
            }
        }
        // the losses move: equality above is not the equality of constants
        assertThat(new HashSet<>(values(a, "loss"))).hasSizeGreaterThan(5);
    }

    private static void assertSameFinalState(MegalithConfig expected, MegalithConfig actual) throws IOException {
        long last = expected.train().maxSteps();
        LoadedCheckpoint a = store(expected).load(last);
        LoadedCheckpoint b = store(actual).load(last);
        for (String file : List.of(TrainingRun.MODEL_FILE, TrainingRun.OPTIMIZER_FILE)) {
            Map<String, HostTensor> ta = a.tensorFiles().get(file);
            Map<String, HostTensor> tb = b.tensorFiles().get(file);
            assertThat(tb.keySet()).as(file).containsExactlyElementsOf(ta.keySet());
            assertThat(ta).isNotEmpty();
            for (String name : ta.keySet()) {
                assertThat(tb.get(name).contentEquals(ta.get(name))).as("%s %s byte for byte", file, name).isTrue();
            }
        }
        // and the parameters did change during training (a checkpoint of step 4 differs from step 12)
        HostTensor early = store(expected).load(4).tensorFiles().get(TrainingRun.MODEL_FILE).get("wte.weight");
        assertThat(early.contentEquals(a.tensorFiles().get(TrainingRun.MODEL_FILE).get("wte.weight"))).isFalse();
    }

    private static CheckpointStore store(MegalithConfig cfg) throws IOException {
        return new CheckpointStore(cfg.run().dir(), CONF, 0);
    }

    private static List<Long> steps(List<Map<String, Object>> records) {
        return records.stream().map(r -> ((Number) r.get("step")).longValue()).toList();
    }

    private static Map<Long, Map<String, Object>> byStep(List<Map<String, Object>> records) {
        Map<Long, Map<String, Object>> out = new LinkedHashMap<>();
        for (Map<String, Object> r : records) {
            assertThat(out.put(((Number) r.get("step")).longValue(), r)).as("duplicate step %s", r.get("step")).isNull();
        }
        return out;
    }

    private static List<Object> values(Map<Long, Map<String, Object>> byStep, String key) {
        List<Object> out = new ArrayList<>();
        for (Map<String, Object> r : byStep.values()) {
            if (r.get(key) != null) {
                out.add(r.get(key));
            }
        }
        return out;
    }

    /** Inverts one byte at {@code fraction} of the file's length. */
    static void flipByte(Path file, double fraction) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            long pos = (long) (f.length() * fraction);
            f.seek(pos);
            int b = f.read();
            f.seek(pos);
            f.write(~b & 0xff);
        }
    }
}
