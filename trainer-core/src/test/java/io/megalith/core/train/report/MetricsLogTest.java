package io.megalith.core.train.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MetricsLogTest {
    private static final Configuration CONF = new Configuration();

    @TempDir
    Path tmp;

    /** The run dir spelled both ways the trainer may get it. */
    private String runDir(String form) {
        Path dir = tmp.resolve("run");
        return form.equals("uri") ? dir.toUri().toString() : dir.toString();
    }

    private static Map<String, Object> rec(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"path", "uri"})
    void roundTripsExactDoublesNonFiniteValuesAndKeyOrder(String form) throws IOException {
        double[] tricky = {0.1 + 0.2, Math.PI, Double.MIN_VALUE, 1e-300, Math.nextUp(1.0), Double.MAX_VALUE, -0.0};
        try (MetricsLog log = new MetricsLog(runDir(form), CONF)) {
            for (int i = 0; i < tricky.length; i++) {
                log.write(rec("step", i, "loss", tricky[i], "lr", 3e-4f, "phase", "train"));
            }
            log.write(rec("step", 7L, "loss", Double.NaN, "grad_norm", Double.POSITIVE_INFINITY,
                    "min", Double.NEGATIVE_INFINITY));
        }

        List<Map<String, Object>> back = MetricsLog.read(runDir(form), CONF);
        assertThat(back).hasSize(tricky.length + 1);
        for (int i = 0; i < tricky.length; i++) {
            Map<String, Object> r = back.get(i);
            assertThat(r.keySet()).containsExactly("step", "loss", "lr", "phase");
            assertThat(r.get("step")).isEqualTo((long) i);
            // Bit-for-bit, so -0.0 and the last ulp count.
            assertThat(Double.doubleToRawLongBits((Double) r.get("loss")))
                    .isEqualTo(Double.doubleToRawLongBits(tricky[i]));
            assertThat(((Double) r.get("lr")).floatValue()).isEqualTo(3e-4f);
            assertThat(r.get("phase")).isEqualTo("train");
        }
        Map<String, Object> last = back.get(tricky.length);
        assertThat((Double) last.get("loss")).isNaN();
        assertThat(last.get("grad_norm")).isEqualTo(Double.POSITIVE_INFINITY);
        assertThat(last.get("min")).isEqualTo(Double.NEGATIVE_INFINITY);

        Path file = tmp.resolve("run").resolve(MetricsLog.FILE_NAME);
        List<String> lines = Files.readAllLines(file);
        assertThat(lines.get(0)).startsWith("{\"step\":0,\"loss\":0.30000000000000004,");
        assertThat(lines.get(tricky.length))
                .isEqualTo("{\"step\":7,\"loss\":\"NaN\",\"grad_norm\":\"Infinity\",\"min\":\"-Infinity\"}");
        assertNoCrcFiles();
    }

    @Test
    void eachLineIsOnDiskBeforeWriteReturns() throws IOException {
        try (MetricsLog log = new MetricsLog(runDir("path"), CONF)) {
            log.write(rec("step", 1, "loss", 2.5));
            // Not closed: the line must already be readable, as after a crash.
            assertThat(MetricsLog.read(runDir("path"), CONF)).containsExactly(rec("step", 1L, "loss", 2.5));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"path", "uri"})
    void resumeKeepsEarlierStepsAndDropsTheRest(String form) throws IOException {
        try (MetricsLog log = new MetricsLog(runDir(form), CONF)) {
            log.write(rec("event", "start", "model", "tiny"));
            for (int step = 0; step < 10; step++) {
                log.write(rec("step", step, "loss", 10.0 - step));
            }
        }

        try (MetricsLog log = MetricsLog.openForResume(runDir(form), CONF, 6)) {
            log.write(rec("step", 6, "loss", 99.0));
        }

        List<Map<String, Object>> back = MetricsLog.read(runDir(form), CONF);
        assertThat(back.get(0)).isEqualTo(rec("event", "start", "model", "tiny"));
        assertThat(back.stream().skip(1).map(r -> r.get("step"))).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L);
        assertThat(back.get(back.size() - 1).get("loss")).isEqualTo(99.0);
        assertThat(back.get(1).get("loss")).isEqualTo(10.0);
        assertNoCrcFiles();
        try (Stream<Path> files = Files.list(tmp.resolve("run"))) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly(MetricsLog.FILE_NAME);
        }
    }

    @Test
    void reopeningDropsALineTornByACrashAndAppends() throws IOException {
        try (MetricsLog log = new MetricsLog(runDir("path"), CONF)) {
            log.write(rec("step", 1, "loss", 1.0));
        }
        Path file = tmp.resolve("run").resolve(MetricsLog.FILE_NAME);
        Files.write(file, "{\"step\":2,\"lo".getBytes(StandardCharsets.UTF_8), StandardOpenOption.APPEND);
        assertThat(MetricsLog.read(runDir("path"), CONF)).hasSize(1);

        try (MetricsLog log = new MetricsLog(runDir("path"), CONF)) {
            log.write(rec("step", 2, "loss", 0.5));
        }

        assertThat(Files.readAllLines(file))
                .containsExactly("{\"step\":1,\"loss\":1.0}", "{\"step\":2,\"loss\":0.5}");
    }

    @Test
    void readingAMissingLogGivesNoRecords() throws IOException {
        assertThat(MetricsLog.read(runDir("uri"), CONF)).isEmpty();
    }

    private void assertNoCrcFiles() throws IOException {
        try (Stream<Path> files = Files.walk(tmp)) {
            assertThat(files.map(Path::toString)).noneMatch(name -> name.endsWith(".crc"));
        }
    }
}
