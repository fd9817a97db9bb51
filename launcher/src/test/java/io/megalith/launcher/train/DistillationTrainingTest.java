package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.train.report.MetricsLog;
import io.megalith.launcher.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code megalith train} with a distill section: a teacher trained tensor-parallel (tp=2, its checkpoint sharded by
 * columns and rows) teaches a smaller student trained data-parallel (dp=2) as a Spark local[2] barrier stage; the
 * student takes the teacher's tokenizer; the teacher may come from its int8 export; a missing teacher is a config error.
 */
class DistillationTrainingTest {
    static final Configuration HADOOP = new Configuration();

    @TempDir
    static Path tmp;

    static Path teacher;
    static Path text;

    @BeforeAll
    static void trainTheTeacher() throws Exception {
        Random rnd = new Random(7);
        StringBuilder sb = new StringBuilder();
        String[] words = {"the", "sea", "and", "sky", "of", "night", "a", "ship", "sails", "far"};
        for (int i = 0; i < 4000; i++) {
            sb.append(words[rnd.nextInt(words.length)]).append(i % 9 == 8 ? ".\n" : " ");
        }
        text = tmp.resolve("words.txt");
        Files.writeString(text, sb);
        teacher = tmp.resolve("teacher");
        Path config = tmp.resolve("teacher.yaml");
        Files.writeString(config, """
                seed: 3
                run: {dir: "%s", name: teacher}
                model: {n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.0}
                data: {task: text, path: "%s", tokenizer: char}
                train: {max_steps: 60, batch_size: 8, lr: 1.0e-2, warmup_steps: 5, eval_every: 0, eval_batches: 2}
                checkpoint: {every: 0}
                runtime: {threads: 1}
                parallel: {tp: 2}
                """.formatted(teacher, text));
        CliRun r = CliRun.of("train", "--config", config.toString());
        assertThat(r.exit()).as(r.err()).isZero();
    }

    static Path studentConfig(String name) throws Exception {
        Path config = tmp.resolve(name + ".yaml");
        Files.writeString(config, """
                seed: 5
                run: {dir: "%s", name: %s}
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16, dropout: 0.0}
                data: {task: text, path: "%s", tokenizer: char}
                train: {max_steps: 30, batch_size: 8, lr: 1.0e-2, warmup_steps: 2, eval_every: 15, eval_batches: 4}
                checkpoint: {every: 0}
                runtime: {threads: 1}
                distill: {teacher: "%s", temperature: 2.0, alpha: 0.7}
                """.formatted(tmp.resolve(name), name, text, teacher));
        return config;
    }

    @Test
    void aTensorParallelTeacherTeachesADataParallelStudent() throws Exception {
        CliRun r = CliRun.of("train", "--config", studentConfig("student").toString(), "--set", "parallel.dp=2");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("dp 2");
        List<Double> val = MetricsLog.read(tmp.resolve("student").toString(), HADOOP).stream()
                .filter(m -> m.containsKey("val_loss")).map(m -> ((Number) m.get("val_loss")).doubleValue()).toList();
        assertThat(val).hasSize(3); // steps 0, 15, 30
        assertThat(val.get(2)).as("val loss (cross-entropy alone) falls").isLessThan(val.get(1)).isLessThan(val.get(0));
        assertThat(Files.readString(tmp.resolve("student").resolve("tokenizer.json")))
                .as("the student reads the teacher's token ids").isEqualTo(Files.readString(teacher.resolve("tokenizer.json")));
    }

    @Test
    void theTeacherMayBeItsInt8Export() throws Exception {
        Path int8 = tmp.resolve("teacher-int8.safetensors");
        CliRun export = CliRun.of("ckpt", "export", teacher.toString(), "--dtype", "int8", "--out", int8.toString());
        assertThat(export.exit()).as(export.err()).isZero();
        CliRun r = CliRun.of("train", "--config", studentConfig("student-int8").toString(), "--set",
                "distill.weights=" + int8, "--set", "launch.master=inprocess", "--set", "train.max_steps=10");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("distilled from " + teacher + ": a frozen GPT of 2 layers, 32 wide");
    }

    @Test
    void aMissingTeacherIsAConfigErrorThatWritesNothing() throws Exception {
        Path missing = tmp.resolve("no-such-teacher");
        CliRun r = CliRun.of("train", "--config", studentConfig("student-missing").toString(), "--set",
                "distill.teacher=" + missing);
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("distill.teacher: no such file or directory: " + missing);
        assertThat(tmp.resolve("student-missing")).doesNotExist();
    }
}
