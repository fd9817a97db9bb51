package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.launcher.testing.CliRun;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code megalith generate} on a dit run: a tiny DiT trained by {@code megalith train} at tp=2 (Spark local[2]) on
 * data.builtin shapes is loaded on one rank with its EMA weights from the sharded checkpoint and writes a PNG grid (a
 * row per class) and, with {@code --out DIR --count N}, N single PNGs.
 */
class DitGenerateTest {
    static final String SHAPES = """
            seed: 5
            run: {dir: "%s", name: dit-generate}
            model: {family: dit, n_layer: 1, n_head: 2, n_embd: 16, dropout: 0.0, patch_size: 7}
            data: {task: images, builtin: shapes}
            diffusion: {timesteps: 50, sample_steps: 4, ema_decay: 0.9}
            train: {max_steps: 4, batch_size: 8, lr: 1.0e-3, warmup_steps: 1, eval_batches: 1, log_every: 2}
            checkpoint: {every: 2, keep_last: 0}
            runtime: {threads: 1}
            comm: {deadline_seconds: 30}
            """;

    @TempDir
    Path tmp;

    @Test
    void aShapesRunWritesAGridPerClassAndSinglePngs() throws Exception {
        Path runDir = tmp.resolve("shapes");
        Path config = Files.writeString(tmp.resolve("dit.yaml"), SHAPES.formatted(runDir));
        CliRun train = CliRun.of("train", "--config", config.toString(), "--set", "parallel.tp=2");
        assertThat(train.exit()).as(train.err()).isZero();

        CliRun grid = CliRun.of("generate", "--run", runDir.toString(), "--samples", "3");
        assertThat(grid.exit()).as(grid.err()).isZero();
        assertThat(grid.out()).contains("10 classes x 3 samples").contains("ddim, 4 steps").contains("step 4");
        BufferedImage png = ImageIO.read(runDir.resolve("samples/grid.png").toFile());
        int pad = 2; // ImageGrid.PAD
        assertThat(png.getWidth()).isEqualTo(3 * 28 + 4 * pad);
        assertThat(png.getHeight()).isEqualTo(10 * 28 + 11 * pad);

        Path out = tmp.resolve("singles");
        CliRun singles = CliRun.of("generate", "--run", runDir.toString(), "--out", out.toString(), "--count", "5",
                "--sampler", "ddpm", "--guidance", "2");
        assertThat(singles.exit()).as(singles.err()).isZero();
        assertThat(singles.out()).contains("wrote 5 images").contains("ddpm, 50 steps");
        try (Stream<Path> files = Files.list(out)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted())
                    .containsExactly("sample_00000.png", "sample_00001.png", "sample_00002.png", "sample_00003.png",
                            "sample_00004.png");
        }
        assertThat(ImageIO.read(out.resolve("sample_00004.png").toFile()).getWidth()).isEqualTo(28);

        CliRun bad = CliRun.of("generate", "--run", runDir.toString(), "--steps", "99");
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.err()).contains("--steps: 99").contains("diffusion.timesteps");

        CliRun early = CliRun.of("generate", "--run", runDir.toString(), "--step", "2", "--samples", "1");
        assertThat(early.exit()).as(early.err()).isZero();
        assertThat(early.out()).contains("EMA weights of step 2");
        CliRun missing = CliRun.of("generate", "--run", runDir.toString(), "--step", "3");
        assertThat(missing.exit()).isNotZero();
        assertThat(missing.err()).contains("no checkpoint of step 3");
    }
}
