package io.megalith.core.model.seq2seq;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.seq2seq.Seq2SeqRun;
import io.megalith.core.train.TrainingRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Text pairs from a file: parsing, the held-out split, batches, and a tiny model learning them. */
class TextPairsTaskTest {
    @TempDir
    Path dir;

    /** "source<TAB>target": lowercase words and their reversed upper-case form. */
    private Path write(int n) throws Exception {
        Random r = new Random(3);
        List<String> lines = new ArrayList<>();
        lines.add("# a comment line without a tab is skipped");
        for (int i = 0; i < n; i++) {
            int len = 3 + r.nextInt(3);
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < len; j++) {
                sb.append((char) ('a' + r.nextInt(8)));
            }
            lines.add(sb + "\t" + sb.reverse().toString().toUpperCase());
            if (i % 50 == 0) {
                lines.add("");
            }
        }
        Path p = dir.resolve("pairs.tsv");
        Files.write(p, lines);
        return p;
    }

    @Test
    void parsesAndSplits() throws Exception {
        TextPairsTask task = TextPairsTask.fromFile(write(1000), 0.1, 1, 0, 0);
        assertThat(task.vocabSize()).isEqualTo(4 + 16);
        assertThat(task.maxSourceLen()).isEqualTo(5);
        assertThat(task.maxTargetLen()).isEqualTo(6);
        int held = task.heldOutSize(Integer.MAX_VALUE);
        assertThat(held).isBetween(70, 130);
        Seq2SeqTask.Batch b = task.heldOut(0, 3);
        for (int i = 0; i < 3; i++) {
            String src = task.text(b.source(i));
            String tgt = task.text(b.expected(i));
            assertThat(tgt).isEqualTo(new StringBuilder(src).reverse().toString().toUpperCase());
        }
        Seq2SeqTask.Batch t = task.train(5, 0, 4);
        assertThat(t.tgtIn()[0]).isEqualTo(Seq2SeqTask.BOS);
        assertThat(t.expected(0).length + 1).isLessThanOrEqualTo(6);
        assertThat(t.targets()[t.expected(0).length]).isEqualTo(Seq2SeqTask.EOS);
    }

    /**
     * A tiny model learns the pairs of a file through the family's training run (launch.master inprocess); held-out
     * exact match of beam-search decoding.
     */
    @Test
    void tinyModelLearnsPairsFromAFile() throws Exception {
        Path file = write(3000);
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                seed: 7
                run: {dir: "%s", name: tiny-pairs}
                model: {family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 1, n_head: 2, n_embd: 32,
                        dropout: 0.0}
                data: {task: pairs, path: "%s", held_out_fraction: 0.1, eval_pairs: 200}
                train: {max_steps: 300, batch_size: 32, lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 20,
                        weight_decay: 0.01, beta2: 0.99, grad_clip: 1.0, eval_every: 0}
                checkpoint: {every: 0}
                runtime: {threads: 1}
                """.formatted(dir.resolve("run"), file), List.of(), "tiny pairs");
        try (TrainingRun run = ModelFamilies.of(cfg).newInProcessRun(cfg, new Configuration(), System.out)) {
            run.run();
            List<String> samples = new ArrayList<>();
            // evaluated with beam search (3 beams): hypotheses that end in EOS on a trained model
            double exactMatch = ((Seq2SeqRun) run.rankModel()).exactMatch(run.fullParameters(), 3, samples);
            samples.forEach(System.out::println);
            System.out.printf("exact match %.1f%% (3 beams)%n", 100 * exactMatch);
            assertThat(exactMatch).isGreaterThan(0.8);
        }
    }
}
