package io.megalith.core.parallelize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.pipeline.PpLayout;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.TpLayout;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** What the plan does to the declared model's parameters (the numerics are the equivalence tests'). */
class GptPlanTest {
    private static final GptConfig CFG = new GptConfig(97, 32, 4, 4, 64, 0.0, true);

    private static Map<String, Parameter> byName(Gpt gpt) {
        return gpt.parameters().stream().collect(Collectors.toMap(Parameter::name, Function.identity()));
    }

    @Test
    void tensorParallelSlicesKeepNamesAndStatePartials() {
        List<String> whole = new Gpt(CFG).parameters().stream().map(Parameter::name).toList();
        Gpt gpt = new Gpt(CFG);
        GptPlan.apply(gpt, new Placement(new TpLayout(1, 2), null, PpLayout.SINGLE, false, null));
        assertThat(gpt.parameters().stream().map(Parameter::name).toList()).isEqualTo(whole);
        Map<String, Parameter> p = byName(gpt);
        assertThat(p.get("wte.weight").shape()).containsExactly(49, 64); // rows [48, 97)
        assertThat(p.get("blocks.0.attn.qkv.weight").shape()).containsExactly(96, 64);
        assertThat(p.get("blocks.0.attn.qkv.weight").sharding().ranges())
                .isDeepEqualTo(new long[][] {{32, 64}, {96, 128}, {160, 192}}); // heads 2, 3 of q, k and v
        assertThat(p.get("blocks.0.attn.proj.weight").shape()).containsExactly(64, 32);
        assertThat(p.get("blocks.0.attn.proj.bias").sharding()).isEqualTo(Parameter.Sharding.PARTIAL);
        assertThat(p.get("blocks.0.mlp.fc.weight").shape()).containsExactly(128, 64);
        assertThat(p.get("blocks.0.mlp.proj.weight").shape()).containsExactly(64, 128);
        for (String partial : List.of("wpe.weight", "blocks.3.ln1.weight", "blocks.3.ln2.bias", "ln_f.weight")) {
            assertThat(p.get(partial).sharding()).as(partial).isEqualTo(Parameter.Sharding.PARTIAL);
        }
    }

    @Test
    void aPipelineStageKeepsItsBlocksAndEnds() {
        Gpt last = new Gpt(CFG);
        GptPlan.apply(last, new Placement(TpLayout.SINGLE, null, new PpLayout(1, 2), false, null));
        assertThat(last.parameters().stream().map(Parameter::name).filter(n -> !n.startsWith("blocks.2.")
                && !n.startsWith("blocks.3.")).toList()).containsExactly("wte.weight", "ln_f.weight", "ln_f.bias");
        Gpt first = new Gpt(CFG);
        GptPlan.apply(first, new Placement(TpLayout.SINGLE, null, new PpLayout(0, 2), false, null));
        assertThat(first.blocks()).extracting(b -> b.prefix()).containsExactly("blocks.0", "blocks.1");
        assertThat(first.wpe()).isNotNull();
        assertThat(first.lnF()).isNull();
    }

    @Test
    void appliesOnceToTheWholeModelAndSlicesOnlyBeforeBinding() {
        Gpt gpt = new Gpt(CFG);
        GptPlan.apply(gpt, new Placement(new TpLayout(0, 2), null, PpLayout.SINGLE, false, null));
        assertThatThrownBy(() -> GptPlan.apply(gpt, Placement.SINGLE)).isInstanceOf(IllegalArgumentException.class);
        Torch.load(1);
        try (NDManager manager = Torch.newManager();
                ParameterStore store = new ParameterStore(new Gpt(CFG), manager, 1)) {
            Parameter bound = store.parameters().get(0);
            assertThatThrownBy(() -> bound.slice(0, new long[][] {{0, 1}})).isInstanceOf(IllegalStateException.class);
        }
    }
}
