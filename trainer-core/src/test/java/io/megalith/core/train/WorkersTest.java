package io.megalith.core.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.MegalithConfig;
import java.nio.file.Path;
import java.util.List;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Worker threads split each micro-batch across model replicas that share one parameter buffer: the
 * losses must be those of one worker (same math up to float rounding, dropout masks included, since
 * masks are keyed by global sample index), and a run with workers must be deterministic.
 */
class WorkersTest {
    @TempDir
    Path tmp;

    private List<Double> losses(String name, String... overrides) throws Exception {
        Path text = TinyRuns.writeText(tmp, 6000);
        MegalithConfig cfg = TinyRuns.text(tmp.resolve(name), text, overrides);
        TinyRuns.train(cfg, cfg.train().maxSteps());
        return TinyRuns.series(TinyRuns.metrics(cfg), "loss");
    }

    @Test
    void twoAndThreeWorkersGiveTheLossesOfOne() throws Exception {
        List<Double> one = losses("w1", "runtime.workers=1");
        List<Double> two = losses("w2", "runtime.workers=2", "runtime.threads=2");
        List<Double> three = losses("w3", "runtime.workers=3", "runtime.threads=3"); // 4 rows over 3 workers: uneven
        assertThat(one).hasSize(12);
        for (int i = 0; i < one.size(); i++) {
            assertThat(two.get(i)).as("step %d, 2 workers", i + 1).isCloseTo(one.get(i), Percentage.withPercentage(1e-3));
            assertThat(three.get(i)).as("step %d, 3 workers", i + 1).isCloseTo(one.get(i), Percentage.withPercentage(1e-3));
        }
        assertThat(one.get(one.size() - 1)).as("it trains").isLessThan(one.get(0));
    }

    @Test
    void workersAreDeterministic() throws Exception {
        List<Double> a = losses("a", "runtime.workers=2", "runtime.threads=2");
        List<Double> b = losses("b", "runtime.workers=2", "runtime.threads=2");
        assertThat(a).isEqualTo(b);
    }
}
