package io.megalith.core.prune;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GPT run with a prune section, through the one training loop: the masks are cut on the schedule, checkpointed as
 * {@code mask.*}, and a run stopped between two cuts resumes bit for bit (weights and masks) against one that never
 * stopped; metrics.jsonl logs the sparsity; bad prune sections are config errors naming the key.
 */
class PruningRunTest {
    @TempDir
    Path tmp;

    static final String[] PRUNE = {"model.n_layer=2", "train.max_steps=24", "checkpoint.every=10", "train.eval_every=12",
        "prune.sparsity=0.5", "prune.start_step=2", "prune.end_step=17", "prune.every=5"};

    record Finished(Map<String, HostTensor> weights, Map<String, float[]> masks) {}

    static Finished train(MegalithConfig cfg, long stopAt) throws Exception {
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, TinyRuns.CONF, TinyRuns.QUIET)) {
            run.run(stopAt);
            return new Finished(run.fullParameters(), run.pruningMasks());
        }
    }

    @Test
    void masksFollowTheScheduleAreCheckpointedAndAResumeBetweenCutsIsBitForBit() throws Exception {
        MegalithConfig straight = TinyRuns.addition(tmp.resolve("straight"), PRUNE);
        MegalithConfig stopped = TinyRuns.addition(tmp.resolve("stopped"), PRUNE);
        Finished want = train(straight, 24);
        train(stopped, 10); // cuts after steps 7 (and 12, 17 to come): stops between two
        Finished got = train(stopped, 24);
        assertThat(got.weights().keySet()).isEqualTo(want.weights().keySet());
        want.weights().forEach((name, t) -> assertThat(got.weights().get(name).toFloats()).as(name)
                .containsExactly(t.toFloats()));
        assertThat(got.masks().keySet()).isEqualTo(want.masks().keySet()).contains("blocks.0.attn.qkv.weight",
                "blocks.1.mlp.proj.weight").doesNotContain("wte.weight", "blocks.0.ln1.weight");
        want.masks().forEach((name, m) -> assertThat(got.masks().get(name)).as(name).containsExactly(m));
        assertThat(MagnitudeMask.sparsity(want.weights())).as("the final sparsity, kept through fine-tuning")
                .isCloseTo(0.5, org.assertj.core.data.Offset.offset(0.001));

        CheckpointStore store = new CheckpointStore(stopped.run().dir(), TinyRuns.CONF, 0);
        Map<String, HostTensor> saved = store.assemble(10, store.manifest(10), n -> n.startsWith(Pruning.PREFIX));
        assertThat(saved).containsKey("mask.blocks.0.mlp.fc.weight");
        double at7 = new PruneSchedule(0.5, 2, 17, 5).at(7);
        float[] mask = saved.get("mask.blocks.0.mlp.fc.weight").toFloats();
        double zeros = 0;
        for (float v : mask) {
            zeros += v == 0f ? 1 : 0;
        }
        assertThat(zeros / mask.length).as("the step-7 cut").isCloseTo(at7, org.assertj.core.data.Offset.offset(0.002));

        List<Map<String, Object>> metrics = TinyRuns.metrics(straight);
        List<Double> sparsity = TinyRuns.series(metrics.stream().filter(r -> r.containsKey("loss")).toList(),
                "sparsity");
        assertThat(sparsity).hasSize(24);
        assertThat(sparsity.subList(0, 6)).containsOnly(0.0);
        assertThat(sparsity.get(6)).isEqualTo(at7);
        assertThat(sparsity.get(23)).isEqualTo(0.5);
    }

    @Test
    void aBadPruneSectionIsAConfigErrorNamingItsKey() {
        assertThat(problems("prune.sparsity=1.0")).anyMatch(p -> p.startsWith("prune.sparsity: must be in [0, 1)"));
        assertThat(problems("prune.sparsity=0.5", "prune.start_step=12")).anyMatch(p -> p.startsWith(
                "prune.end_step: must be after prune.start_step"));
        assertThat(problems("prune.sparsity=0.5", "prune.end_step=50")).anyMatch(p -> p.startsWith(
                "prune.end_step: must be at most train.max_steps"));
        assertThat(problems("prune.sparsity=0.5", "parallel.dp=2", "zero.stage=2")).anyMatch(p -> p.startsWith(
                "prune.sparsity: pruning masks replicated parameters"));
        assertThat(problems("prune.sparsity=0.5")).isEmpty();
    }

    private List<String> problems(String... sets) {
        try {
            ConfigLoader.fromYaml("run: {dir: x}\ntrain: {max_steps: 12}\n", List.of(sets), "test");
            return List.of();
        } catch (ConfigException e) {
            return e.problems();
        }
    }
}
