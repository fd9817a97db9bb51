package io.megalith.core.train;

import static io.megalith.core.train.TinyRuns.metrics;
import static io.megalith.core.train.TinyRuns.series;
import static io.megalith.core.train.TinyRuns.train;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.MegalithConfig;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Two fresh runs with the same seed train identically (one libtorch thread); another seed differs. */
class DeterminismTest {
    @TempDir
    Path tmp;

    private MegalithConfig config(String task, String dir, long seed) throws Exception {
        String[] overrides = {"seed=" + seed, "train.max_steps=5", "checkpoint.every=0", "train.eval_every=0"};
        Path runDir = tmp.resolve(dir);
        return "text".equals(task)
                ? TinyRuns.text(runDir, TinyRuns.writeText(tmp, 5000), overrides)
                : TinyRuns.addition(runDir, overrides);
    }

    @ParameterizedTest
    @ValueSource(strings = {"addition", "text"})
    void sameSeedSameLossesOtherSeedOtherLosses(String task) throws Exception {
        MegalithConfig a = config(task, "a", 1);
        MegalithConfig b = config(task, "b", 1);
        MegalithConfig c = config(task, "c", 2);
        train(a, Long.MAX_VALUE);
        train(b, Long.MAX_VALUE);
        train(c, Long.MAX_VALUE);

        List<Double> lossA = series(metrics(a), "loss");
        List<Double> lossB = series(metrics(b), "loss");
        List<Double> lossC = series(metrics(c), "loss");
        assertThat(lossA).hasSize(5).allMatch(Double::isFinite);
        assertThat(lossB).containsExactlyElementsOf(lossA); // Double.equals: bit for bit
        assertThat(series(metrics(b), "grad_norm")).containsExactlyElementsOf(series(metrics(a), "grad_norm"));
        assertThat(metrics(b).get(0).get("val_loss")).isEqualTo(metrics(a).get(0).get("val_loss"));

        assertThat(lossC).hasSize(5);
        for (int i = 0; i < 5; i++) {
            assertThat(lossC.get(i)).as("loss of step %d with another seed", i + 1).isNotEqualTo(lossA.get(i));
        }
    }
}
