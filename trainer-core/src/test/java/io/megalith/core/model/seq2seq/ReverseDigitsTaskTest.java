package io.megalith.core.model.seq2seq;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.core.optim.ModuleTrainer;
import io.megalith.core.tensor.Torch;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;

/** The built-in reversal task: its batches, its held-out split, and a tiny model learning it. */
class ReverseDigitsTaskTest {
    @Test
    void batchLayout() {
        ReverseDigitsTask task = new ReverseDigitsTask(4, 8, 0.1, 1);
        Seq2SeqTask.Batch b = task.batch(new int[][] {{4, 0, 2, 1, 3}});
        assertThat(b.src()).containsExactly(7, 3, 5, 4, 6, 0, 0, 0);
        assertThat(b.tgtIn()).containsExactly(1, 6, 4, 5, 3, 7, 0, 0, 0);
        assertThat(b.targets()).containsExactly(6, 4, 5, 3, 7, 2, -1, -1, -1);
    }

    @Test
    void heldOutStringsAreNeverTrainedOn() {
        ReverseDigitsTask task = new ReverseDigitsTask(4, 8, 0.1, 1);
        Set<String> held = new HashSet<>();
        int[][] strings = task.heldOut(2000);
        for (int[] s : strings) {
            assertThat(task.isHeldOut(s)).isTrue();
            held.add(ReverseDigitsTask.text(s));
        }
        assertThat(held).as("distinct").hasSize(2000);
        int[] lengths = new int[9];
        for (int step = 0; step < 50; step++) {
            Seq2SeqTask.Batch b = task.train(step, 0, 64);
            for (int i = 0; i < 64; i++) {
                StringBuilder sb = new StringBuilder();
                int n = 0;
                for (int j = 0; j < 8; j++) {
                    long t = b.src()[i * 8 + j];
                    if (t != Seq2SeqTask.PAD) {
                        sb.append((char) ('0' + t - 3));
                        n++;
                    }
                }
                lengths[n]++;
                assertThat(held).doesNotContain(sb.toString());
            }
        }
        for (int n = 4; n <= 8; n++) {
            assertThat(lengths[n]).as("length %d is drawn", n).isGreaterThan(400);
        }
        // sample i of step s depends only on (seed, s, i)
        assertThat(task.train(7, 10, 5).src()).containsExactly(
                Arrays.copyOfRange(task.train(7, 0, 15).src(), 80, 120));
    }

    /** A tiny model trained for 300 steps (~1.5 s) reverses > 90% of held-out 3-5 digit strings (chance: ~1e-5). */
    @Test
    void tinyModelLearnsToReverse() {
        Torch.load(1);
        try (NDManager root = Torch.newManager()) {
            int steps = 300;
            Seq2SeqTraining.Settings s = new Seq2SeqTraining.Settings(7, "reverse", null, 3, 5, 0.1, 1, 1, 2, 32, 0.0, steps, 32,
                    new ModuleTrainer.Settings(3e-3, 3e-4, 20, steps, 0.01, 0.9, 0.99, 1e-8, 1.0), 100, 200, 1);
            Seq2SeqTraining.Result r = Seq2SeqTraining.run(s, root, System.out);
            r.samples().forEach(System.out::println);
            assertThat(r.exactMatch()).isGreaterThan(0.9);
        }
    }

    /** conf/seq2seq-reverse.yaml binds (unknown keys are rejected, overrides apply). */
    @Test
    void shippedConfigLoads() throws Exception {
        Path conf = Path.of("../conf/seq2seq-reverse.yaml");
        Seq2SeqTaskConfig.Loaded l = Seq2SeqTaskConfig.load(conf, List.of("train.max_steps=10", "decode.beams=3"));
        assertThat(l.settings().steps()).isEqualTo(10);
        assertThat(l.settings().beams()).isEqualTo(3);
        assertThat(l.settings().maxLen()).isEqualTo(8);
        assertThat(l.settings().minLen()).isEqualTo(4);
        Assertions.assertThatThrownBy(() -> Seq2SeqTaskConfig.load(conf, List.of("train.lrr=1")))
                .hasMessageContaining("train.lrr");
    }
}
