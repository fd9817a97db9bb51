package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.launcher.testing.CliRun;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint written by an earlier main (commit 50cf84e, before the model/plan redesign of issue 15) still resumes
 * bit for bit and exports the same tensors. The fixture is that code's own run of {@code compat.yaml} (a dp=2 ZeRO-1
 * GPT with dropout): its step-3 checkpoint, its metrics for steps 1-6, the manifest (with every piece's CRC32C) of
 * its step-6 checkpoint and the SHA-256 of its export of step 3.
 */
class PreviousCheckpointTest {
    static final String FIXTURE = "checkpoint-50cf84e";
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void resumesBitForBitFromStep3() throws Exception {
        Path fixture = fixture();
        Path run = copyRun(fixture);
        CliRun train = CliRun.of("train", "--config", fixture.resolve("compat.yaml").toString(),
                "--set", "run.dir=" + run, "--set", "data.path=" + fixture.resolve("input.txt"));
        assertThat(train.exit()).as(train.err()).isZero();
        Map<Long, JsonNode> expected = steps(fixture.resolve("expected/metrics.jsonl"));
        Map<Long, JsonNode> resumed = steps(run.resolve("metrics.jsonl"));
        assertThat(resumed.keySet()).as("the run resumed after step 3").containsExactly(4L, 5L, 6L);
        for (long step : resumed.keySet()) {
            for (String key : List.of("loss", "grad_norm", "lr")) {
                assertThat(resumed.get(step).get(key).asDouble()).as("%s at step %d", key, step)
                        .isEqualTo(expected.get(step).get(key).asDouble());
            }
        }
        // the step-6 checkpoint: the same tensors, pieces and bytes (CRC32C of every piece) as the earlier code wrote
        JsonNode want = JSON.readTree(fixture.resolve("expected/step-6-manifest.json").toFile()).get("tensors");
        JsonNode got = JSON.readTree(run.resolve("checkpoints/step-00000006/manifest.json").toFile()).get("tensors");
        assertThat(got).isEqualTo(want);
    }

    @Test
    void exportsTheSameTensors() throws Exception {
        Path fixture = fixture();
        Path run = copyRun(fixture);
        Path file = tmp.resolve("step-3.safetensors");
        CliRun export = CliRun.of("ckpt", "export", run.toString(), "--step", "3", "--out", file.toString());
        assertThat(export.exit()).as(export.err()).isZero();
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        assertThat(sha).isEqualTo(Files.readString(fixture.resolve("expected/step-3-export.sha256")).trim());
    }

    private static Path fixture() throws URISyntaxException {
        return Path.of(PreviousCheckpointTest.class.getClassLoader().getResource(FIXTURE).toURI());
    }

    /** A writable copy of the fixture's run directory (its step-3 checkpoint). */
    private Path copyRun(Path fixture) throws IOException {
        Path from = fixture.resolve("run");
        Path to = tmp.resolve("run");
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : files.toList()) {
                Path target = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(f, target);
                }
            }
        }
        return to;
    }

    private static Map<Long, JsonNode> steps(Path metrics) throws IOException {
        Map<Long, JsonNode> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(metrics)) {
            JsonNode n = JSON.readTree(line);
            if (n.has("loss")) {
                out.put(n.get("step").asLong(), n);
            }
        }
        return out;
    }
}
