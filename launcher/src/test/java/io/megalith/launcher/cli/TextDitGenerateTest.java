package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.launcher.testing.CliRun;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code megalith generate} on a text-to-image dit run (data.task captions on data.builtin shapes' wide canvases,
 * trained in process by {@code megalith train}): a PNG grid with a row per --prompt (default: held-out compositions'
 * captions, both orders), and with {@code --out DIR --count N} N single PNGs of the canvas's shape, the same bytes
 * for the same seed and others for another.
 */
class TextDitGenerateTest {
    static final String CAPTIONS = """
            seed: 5
            run: {dir: "%s", name: t2i-generate}
            model: {family: dit, n_layer: 1, n_head: 2, n_embd: 16, dropout: 0.0, patch_size: 7, text_len: 48,
                    text_layers: 1}
            data: {task: captions, builtin: shapes, tokenizer: char, captions: {held_out_pairs: 2}}
            diffusion: {timesteps: 50, sample_steps: 4, ema_decay: 0.9}
            train: {max_steps: 4, batch_size: 8, lr: 1.0e-3, warmup_steps: 1, eval_batches: 1, log_every: 2}
            checkpoint: {every: 2, keep_last: 0}
            runtime: {threads: 1}
            launch: {master: inprocess}
            """;
    static final int PAD = 2; // ImageGrid.PAD

    @TempDir
    Path tmp;

    @Test
    void aCaptionsRunWritesAGridPerPromptAndSinglePngsOfTheCanvas() throws Exception {
        Path runDir = tmp.resolve("t2i");
        Path config = Files.writeString(tmp.resolve("t2i.yaml"), CAPTIONS.formatted(runDir));
        CliRun train = CliRun.of("train", "--config", config.toString());
        assertThat(train.exit()).as(train.err()).isZero();

        CliRun grid = CliRun.of("generate", "--run", runDir.toString(), "--samples", "3", "--prompt",
                "a disc to the left of a ring", "--prompt", "a ring to the left of a disc");
        assertThat(grid.exit()).as(grid.err()).isZero();
        assertThat(grid.out()).contains("2 prompts x 3 samples").contains("ddim, 4 steps").contains("step 4")
                .contains("row 1: \"a disc to the left of a ring\"")
                .contains("row 2: \"a ring to the left of a disc\"");
        BufferedImage png = ImageIO.read(runDir.resolve("samples/grid.png").toFile());
        assertThat(png.getWidth()).isEqualTo(3 * 56 + 4 * PAD);
        assertThat(png.getHeight()).isEqualTo(2 * 28 + 3 * PAD);

        CliRun defaults = CliRun.of("generate", "--run", runDir.toString(), "--samples", "1");
        assertThat(defaults.exit()).as(defaults.err()).isZero();
        assertThat(defaults.out()).as("both orders of the 2 held-out pairs").contains("4 prompts x 1 samples")
                .contains("row 4: ");

        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        Path c = tmp.resolve("c");
        for (Path out : new Path[] {a, b}) {
            CliRun singles = CliRun.of("generate", "--run", runDir.toString(), "--out", out.toString(), "--count", "3",
                    "--seed", "7");
            assertThat(singles.exit()).as(singles.err()).isZero();
            assertThat(singles.out()).contains("wrote 3 images");
        }
        CliRun other = CliRun.of("generate", "--run", runDir.toString(), "--out", c.toString(), "--count", "3",
                "--seed", "8");
        assertThat(other.exit()).as(other.err()).isZero();
        BufferedImage single = ImageIO.read(a.resolve("sample_00002.png").toFile());
        assertThat(single.getWidth()).as("the canvas's width").isEqualTo(56);
        assertThat(single.getHeight()).isEqualTo(28);
        for (int i = 0; i < 3; i++) {
            String name = "sample_0000" + i + ".png";
            assertThat(Files.readAllBytes(b.resolve(name))).as("seed 7 again: " + name)
                    .isEqualTo(Files.readAllBytes(a.resolve(name)));
            assertThat(Files.readAllBytes(c.resolve(name))).as("seed 8: " + name)
                    .isNotEqualTo(Files.readAllBytes(a.resolve(name)));
        }
    }
}
