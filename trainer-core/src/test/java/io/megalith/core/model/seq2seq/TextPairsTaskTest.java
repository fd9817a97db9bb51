package io.megalith.core.model.seq2seq;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.core.optim.ModuleTrainer;
import io.megalith.core.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
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

    /** A tiny model learns the pairs of a file; held-out exact match of beam-search decoding. */
    @Test
    void tinyModelLearnsPairsFromAFile() throws Exception {
        Path file = write(3000);
        Torch.load(1);
        try (NDManager root = Torch.newManager()) {
            int steps = 300;
            Seq2SeqTraining.Settings s = new Seq2SeqTraining.Settings(7, "pairs", file.toString(), 0, 0, 0.1, 1, 1, 2, 32,
                    0.0, steps, 32, new ModuleTrainer.Settings(3e-3, 3e-4, 20, steps, 0.01, 0.9, 0.99, 1e-8, 1.0), 0, 200,
                    3); // evaluated with beam search (3 beams): hypotheses that end in EOS on a trained model
            Seq2SeqTraining.Result r = Seq2SeqTraining.run(s, root, System.out);
            r.samples().forEach(System.out::println);
            assertThat(r.exactMatch()).isGreaterThan(0.8);
        }
    }
}
