package io.megalith.core.family;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.train.Objective;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModelFamiliesTest {
    /** What the config checks allowed before the registry: only the GPT takes these layouts and tasks. */
    private static final Map<String, Boolean> OLD_GPT_ONLY = Map.of("gpt", true, "bert", false, "encoder_decoder",
            false, "vit", false, "dit", false, "clip", false);

    @Test
    void unknownNameFailsNamingTheKnownOnes() {
        assertThatThrownBy(() -> ModelFamilies.byName("llama"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("model.family: unknown family 'llama'; known: gpt, encoder_decoder, bert, vit, dit, clip");
        assertThat(ModelFamilies.find("llama")).isEmpty();
        assertThat(ModelFamilies.find(null)).isEmpty();
    }

    @Test
    void everyRegisteredFamilyHasADistinctNameAndIsFoundByIt() {
        List<String> names = new ArrayList<>();
        for (ModelFamily f : ModelFamilies.all()) {
            names.add(f.name());
            assertThat(ModelFamilies.byName(f.name())).isSameAs(f);
            assertThat(f.named(f.name())).isTrue();
        }
        assertThat(new HashSet<>(names)).hasSameSizeAs(names);
        assertThat(ModelFamilies.names()).containsExactlyElementsOf(names)
                .containsExactly("gpt", "encoder_decoder", "bert", "vit", "dit", "clip");
        assertThat(MegalithConfig.FAMILIES).isEqualTo(ModelFamilies.names());
    }

    @Test
    void capabilitiesAreThoseTheOldNameTestsAllowed() {
        for (ModelFamily f : ModelFamilies.all()) {
            boolean gpt = OLD_GPT_ONLY.get(f.name());
            assertThat(f.pipelineParallel()).as(f.name()).isEqualTo(gpt);
            assertThat(f.mixtureOfExperts()).as(f.name()).isEqualTo(gpt);
            assertThat(f.sequenceParallel()).as(f.name()).isEqualTo(gpt);
            assertThat(f.workerThreads()).as(f.name()).isEqualTo(gpt);
            assertThat(f.promptAnswerPairs()).as(f.name()).isEqualTo(gpt);
            // ZeRO-2/3 now train every family (one trainer, issue 15): the one capability that grew
            assertThat(f.maxZeroStage()).as(f.name()).isEqualTo(3);
            assertThat(f.nextSentencePrediction()).as(f.name()).isEqualTo(f.name().equals("bert"));
            assertThat(f.sequenceClassification()).as(f.name()).isEqualTo(f.name().equals("bert"));
        }
        assertThat(ModelFamilies.GPT.objective()).isEqualTo(Objective.NEXT_TOKEN);
        assertThat(ModelFamilies.BERT.objective()).isEqualTo(Objective.MASKED_TOKENS);
        assertThat(ModelFamilies.ENCODER_DECODER.objective()).isEqualTo(Objective.SOURCE_TO_TARGET);
        assertThat(ModelFamilies.VIT.objective()).isEqualTo(Objective.IMAGE_CLASSES);
    }

    @Test
    void configValidationRefusesExactlyTheLayoutsAFamilyLacks() {
        for (ModelFamily f : ModelFamilies.all()) {
            String task = f.objective() == Objective.SOURCE_TO_TARGET ? "reverse"
                    : images(f) ? "images" : f.captionedImages() ? "captions" : "addition";
            List<String> base = new ArrayList<>(List.of("model.family=" + f.name(), "data.task=" + task));
            if (images(f)) {
                if (problems(base).stream().anyMatch(p -> p.startsWith("data.task: must be one of"))) {
                    continue; // data.task images comes with the image reader (data/images)
                }
            }
            if (images(f) || f.captionedImages()) {
                base.add("data.builtin=shapes");
            }
            assertThat(problems(base)).as(f.name()).isEmpty();
            String restriction = "model.family " + f.name();
            assertThat(refusedFor(base, restriction, "parallel.pp=2", "train.grad_accum=2"))
                    .as(f.name() + " pp").isEqualTo(!f.pipelineParallel());
            assertThat(refusedFor(base, restriction, "model.moe.every=2", "model.moe.experts=2"))
                    .as(f.name() + " moe").isEqualTo(!f.mixtureOfExperts());
            assertThat(refusedFor(base, restriction, "parallel.tp=2", "parallel.sequence_parallel=true"))
                    .as(f.name() + " sequence parallel").isEqualTo(!f.sequenceParallel());
            assertThat(refusedFor(base, restriction, "zero.stage=2", "parallel.dp=2"))
                    .as(f.name() + " zero 2").isEqualTo(f.maxZeroStage() < 2);
            assertThat(refusedFor(base, restriction, "runtime.workers=2"))
                    .as(f.name() + " workers").isEqualTo(!f.workerThreads());
        }
    }

    /** Whether {@code f} trains on images (the ViT's classes, the DiT's noise). */
    private static boolean images(ModelFamily f) {
        return f.objective() == Objective.IMAGE_CLASSES || f.objective() == Objective.IMAGE_NOISE;
    }

    /** Whether the config with {@code sets} added has a problem naming {@code restriction}. */
    private static boolean refusedFor(List<String> base, String restriction, String... sets) {
        List<String> all = new ArrayList<>(base);
        all.addAll(List.of(sets));
        return problems(all).stream().anyMatch(p -> p.contains(restriction));
    }

    private static List<String> problems(List<String> sets) {
        try {
            ConfigLoader.fromYaml("run:\n  dir: /tmp/unused\n", sets, "test");
            return List.of();
        } catch (ConfigException e) {
            return e.problems();
        }
    }
}
