package io.megalith.core.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** model.moe binds strictly and every impossible setting is rejected naming its YAML path and the fix. */
class MoeConfigTest {
    private static MegalithConfig load(String yaml, String... sets) {
        return ConfigLoader.fromYaml(yaml, List.of(sets), "moe.yaml");
    }

    private static String problem(String yaml, String... sets) {
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> load(yaml, sets));
        assertThat(e).as("expected a rejection").isNotNull();
        assertThat(e.problems()).as(e.getMessage()).hasSize(1);
        return e.problems().get(0);
    }

    @Test
    void bindsAndDefaultsToDense() {
        assertThat(load("").model().moe().enabled()).isFalse();
        MegalithConfig c = load("""
                model:
                  n_layer: 4
                  moe: {every: 2, experts: 8, top_k: 2, capacity_factor: 1.5, aux_loss_coef: 0.02, z_loss_coef: 0.0}
                """);
        assertThat(c.model().moe()).isEqualTo(new MegalithConfig.Moe(2, 8, 2, 1.5, 0.02, 0.0));
        assertThat(c.model().moe().moeLayer(0)).isFalse();
        assertThat(c.model().moe().moeLayer(1)).isTrue();
        assertThat(c.model().moe().moeLayer(3)).isTrue();
        assertThat(MoeMlp.moeIndex(c.model().moe(), 3)).isEqualTo(1);
        assertThat(MoeMlp.moeLayers(c.model().moe(), 4)).isEqualTo(2);
    }

    @Test
    void unknownKeysAndWrongTypesNameThePath() {
        assertThat(problem("model: {moe: {expert: 4}}")).startsWith("model.moe.expert: unknown key 'expert'; did you "
                + "mean 'experts'");
        assertThat(problem("model: {moe: {top_k: two}}")).startsWith("model.moe.top_k: expected an integer");
        assertThat(problem("model: {moe: 2}")).startsWith("model.moe: expected a section");
    }

    @Test
    void impossibleSettingsNameTheFieldAndTheFix() {
        assertThat(problem("", "model.moe.every=1", "model.moe.top_k=3")).startsWith("model.moe.top_k:");
        assertThat(problem("", "model.moe.every=1", "model.moe.experts=1", "model.moe.top_k=2"))
                .contains("model.moe.top_k: must be <= model.moe.experts");
        assertThat(problem("", "model.moe.every=5")).contains("model.moe.every: 5 > model.n_layer 4");
        assertThat(problem("", "model.moe.every=-1")).startsWith("model.moe.every:");
        assertThat(problem("", "model.moe.every=1", "model.moe.capacity_factor=-1"))
                .startsWith("model.moe.capacity_factor:");
        assertThat(problem("", "model.moe.every=1", "model.moe.aux_loss_coef=-0.1"))
                .startsWith("model.moe.aux_loss_coef:");
        assertThat(problem("", "model.moe.every=1", "model.moe.z_loss_coef=-0.1")).startsWith("model.moe.z_loss_coef:");
        assertThat(problem("", "model.moe.every=1", "model.moe.experts=0")).startsWith("model.moe.experts:");
        assertThat(problem("", "model.moe.every=1", "parallel.tp=2", "parallel.dp=1"))
                .contains("parallel.tp: MoE blocks (model.moe.every > 0) run with tp 1");
        assertThat(problem("", "model.moe.every=1", "parallel.sequence_parallel=true"))
                .startsWith("parallel.sequence_parallel: MoE blocks (model.moe.every > 0) run without sequence "
                        + "parallelism");
        ConfigException both = catchThrowableOfType(ConfigException.class, () -> load("", "model.moe.every=1",
                "parallel.tp=2", "parallel.dp=1", "parallel.sequence_parallel=true"));
        assertThat(both.problems()).anyMatch(p -> p.startsWith("parallel.tp: MoE blocks"))
                .anyMatch(p -> p.startsWith("parallel.sequence_parallel: MoE blocks"));
    }

    @Test
    void expertParallelLayoutsAreChecked() {
        String[] moe = {"model.moe.every=1", "model.moe.experts=4", "parallel.dp=2"};
        assertThat(load("", concat(moe, "parallel.ep=2")).parallel().ep()).isEqualTo(2);
        assertThat(load("", concat(moe, "parallel.ep=2", "zero.stage=1")).zero().stage()).isEqualTo(1);
        assertThat(problem("", "parallel.dp=2", "parallel.ep=2")).startsWith("parallel.ep: expert parallelism splits "
                + "the experts of MoE blocks, and model.moe.every is 0");
        assertThat(problem("", "model.moe.every=1", "model.moe.experts=3", "parallel.dp=2", "parallel.ep=2"))
                .startsWith("model.moe.experts: must be divisible by parallel.ep (3 experts over 2 ranks)");
        assertThat(problem("", "model.moe.every=1", "parallel.dp=3", "parallel.ep=2"))
                .startsWith("parallel.ep: must divide parallel.dp");
        assertThat(load("", concat(moe, "parallel.ep=2", "zero.stage=3")).zero().stage()).isEqualTo(3);
        assertThat(load("", concat(moe, "parallel.ep=2", "train.activation_checkpointing=true")).train()
                .activationCheckpointing()).isTrue();
        assertThat(problem("", concat(moe, "parallel.ep=2", "runtime.workers=2"))).startsWith("runtime.workers: must be "
                + "1 with parallel.ep > 1");
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
