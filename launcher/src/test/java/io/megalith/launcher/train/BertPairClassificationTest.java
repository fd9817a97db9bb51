package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.train.report.MetricsLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sentence-pair classification through the launcher: {@code megalith train} of a BERT classifier from scratch at
 * tp=2 on Spark local[2] on label<TAB>text_a<TAB>text_b lines whose label is whether text_b is text_a again. No
 * single segment tells, so held-out accuracy well above the majority class means the pairs reach the model as
 * [CLS] A [SEP] B [SEP] with token types on every rank.
 */
class BertPairClassificationTest {
    @TempDir
    Path tmp;

    static String word(Random r) {
        StringBuilder w = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            w.append("abcd".charAt(r.nextInt(4)));
        }
        return w.toString();
    }

    @Test
    void learnsAPairTaskAtTp2AboveTheMajorityClass() throws Exception {
        Random r = new Random(3);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            String a = word(r);
            String b = r.nextBoolean() ? a : word(r);
            sb.append(a.equals(b) ? "same" : "diff").append('\t').append(a).append('\t').append(b).append('\n');
        }
        Path data = Files.writeString(tmp.resolve("pairs.tsv"), sb);
        Path runDir = tmp.resolve("run");
        Path conf = Files.writeString(tmp.resolve("pairs.yaml"), """
                seed: 4
                run: {dir: "%s", name: bert-pairs-test}
                model: {family: bert, n_layer: 2, n_head: 2, n_embd: 32, block_size: 12, dropout: 0.0, bias: true}
                data: {task: classify, path: "%s", held_out_fraction: 0.2}
                train: {max_steps: 600, batch_size: 16, lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 20, eval_every: 0}
                checkpoint: {every: 0}
                runtime: {threads: 1}
                comm: {deadline_seconds: 30}
                """.formatted(runDir, data));
        String out = BertFinetuneTest.megalith("train", "--config", conf.toString(), "--set", "parallel.tp=2");
        assertThat(out).contains("held-out accuracy").contains("majority class");
        List<Map<String, Object>> metrics = MetricsLog.read(runDir.toString(), new Configuration());
        Map<String, Object> eval = metrics.get(metrics.size() - 1);
        double accuracy = ((Number) eval.get("accuracy")).doubleValue();
        double majority = ((Number) eval.get("majority_baseline")).doubleValue();
        assertThat(accuracy).as("held-out accuracy vs majority %s", majority).isGreaterThan(majority + 0.2);
    }
}
