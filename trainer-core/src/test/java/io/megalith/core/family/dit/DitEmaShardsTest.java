package io.megalith.core.family.dit;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.testing.InJvmRanks;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.zero.PartitionedParameters;
import io.megalith.parallel.mesh.DeviceMesh;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The DiT's EMA under ZeRO-2/3 at dp=2 (in-JVM ranks): each rank keeps the EMA of the shard it owns, which gathered
 * by name is the one-rank run's EMA, and a run resumed from its step-3 checkpoint has the EMA of one that never
 * stopped, bit for bit.
 */
class DitEmaShardsTest {
    @TempDir
    Path tmp;

    /** What one rank ends with: its EMA gathered by name, the floats it held, its shard and the model's size. */
    record Rank(Map<String, float[]> ema, long heldFloats, long shardSize, long modelFloats) {}

    @Test
    void atDp2WithZero2And3TheShardsAverageToTheOneRankEma() throws Exception {
        Map<String, float[]> one;
        try (TrainingRun run = ModelFamilies.DIT.newInProcessRun(DitRunTest.config(tmp.resolve("one"),
                "train.max_steps=5"), TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run();
            one = ((DitRun) run.rankModel()).emaValues();
        }
        for (int stage = 2; stage <= 3; stage++) {
            MegalithConfig cfg = DitRunTest.config(tmp.resolve("zero" + stage), "train.max_steps=5", "parallel.dp=2",
                    "zero.stage=" + stage);
            for (Rank r : onDp2(cfg, Long.MAX_VALUE)) {
                assertThat(r.ema().keySet()).containsExactlyElementsOf(one.keySet());
                for (Map.Entry<String, float[]> e : one.entrySet()) {
                    Tolerances.assertCloseToLargest(e.getValue(), r.ema().get(e.getKey()),
                            "zero " + stage + " ema." + e.getKey());
                }
            }
        }
    }

    @Test
    void atDp2WithZero3AResumedRunHasTheEmaOfAnUninterruptedOneAndEachRankHoldsItsShard() throws Exception {
        MegalithConfig straight = DitRunTest.config(tmp.resolve("straight"), "parallel.dp=2", "zero.stage=3");
        MegalithConfig stopped = DitRunTest.config(tmp.resolve("stopped"), "parallel.dp=2", "zero.stage=3");
        List<Rank> uninterrupted = onDp2(straight, Long.MAX_VALUE);
        onDp2(stopped, 3);
        List<Rank> resumed = onDp2(stopped, Long.MAX_VALUE);
        for (int r = 0; r < 2; r++) {
            Map<String, float[]> want = uninterrupted.get(r).ema();
            Map<String, float[]> got = resumed.get(r).ema();
            assertThat(got.keySet()).containsExactlyElementsOf(want.keySet());
            want.forEach((p, v) -> assertThat(got.get(p)).as(p).containsExactly(v));
        }
        long shards = 0;
        for (Rank r : uninterrupted) {
            assertThat(r.heldFloats()).as("the EMA a rank holds is its shard").isEqualTo(r.shardSize());
            assertThat((double) r.heldFloats()).as("about half the model").isLessThan(r.modelFloats() * 0.6);
            shards += r.shardSize();
        }
        assertThat(shards).as("the shards cover the model once").isEqualTo(uninterrupted.get(0).modelFloats());
    }

    /** Each rank's state after training to {@code stopAt} at dp=2 (its EMA gathered: every rank calls emaValues). */
    private static List<Rank> onDp2(MegalithConfig cfg, long stopAt) throws Exception {
        return InJvmRanks.run(DeviceMesh.of(2, 1, 1), ctx -> {
            boolean leader = ctx.rankGroups().dataParallel().rank() == 0;
            try (TrainingRun run = ModelFamilies.DIT.newRun(cfg, TinyRuns.CONF, TinyRuns.QUIET, ctx.rankGroups(),
                    leader, null)) {
                run.run(stopAt);
                DitRun dit = (DitRun) run.rankModel();
                PartitionedParameters params = (PartitionedParameters) dit.trainer().parameters();
                long held = dit.emaHeldFloats();
                return new Rank(dit.emaValues(), held, params.shardSize(), params.trainableElements());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }
}
