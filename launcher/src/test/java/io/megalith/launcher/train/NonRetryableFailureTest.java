package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.InvalidInputException;
import io.megalith.launcher.cli.Megalith;
import io.megalith.launcher.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rank that fails on its input (here a checkpoint.init_from base without a complete checkpoint, which only the
 * ranks read) ends a local[2] job after its first attempt, with exit 2 and the plain message, although
 * launch.max_attempts allows three: only failures of ranks and executors are retried.
 */
class NonRetryableFailureTest {
    @TempDir
    Path tmp;

    @Test
    void invalidInputInARankIsNotRetried() throws Exception {
        Path text = Files.writeString(tmp.resolve("t.txt"), "to be or not to be, that is the question\n".repeat(50));
        Path base = Files.createDirectories(tmp.resolve("base/checkpoints")).getParent(); // a run dir with no checkpoint
        Path config = Files.writeString(tmp.resolve("ft.yaml"), """
                run: {dir: %s, name: no-retry}
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                data: {task: text, path: %s}
                train: {max_steps: 2, batch_size: 4, eval_every: 0, eval_batches: 1}
                checkpoint: {every: 0, init_from: %s}
                parallel: {dp: 2}
                launch: {max_attempts: 3}
                runtime: {threads: 1}
                """.formatted(tmp.resolve("run"), text, base));
        CliRun r = CliRun.of("train", "--config", config.toString());
        assertThat(r.exit()).isEqualTo(Megalith.CONFIG_ERROR);
        assertThat(r.out()).contains("2 rank(s)").contains("attempt 1 of 3 failed on its input")
                .doesNotContain("attempt 2 of 3");
        assertThat(r.err()).contains("megalith: invalid input: checkpoint.init_from " + base)
                .contains("no complete checkpoint");
        assertThat(tmp.resolve("run")).as("a run that could never start leaves no run.dir").doesNotExist();
    }

    @Test
    void theDriverRecognisesTheExceptionByNameWhenSparkDroppedTheCause() {
        RuntimeException spark = new RuntimeException("Job aborted due to stage failure: Lost task 1.0: "
                + "java.lang.IllegalStateException: rank 1 of train x failed: "
                + "io.megalith.core.config.InvalidInputException: data.path x is binary\n\tat somewhere");
        assertThat(DistributedTraining.invalidInput(spark)).hasMessage("data.path x is binary");
        assertThat(DistributedTraining.invalidInput(new RuntimeException("Lost executor 1"))).isNull();
        InvalidInputException direct = new InvalidInputException("bad base");
        assertThat(DistributedTraining.invalidInput(new RuntimeException("wrapped", direct))).isSameAs(direct);
    }
}
