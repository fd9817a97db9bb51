package io.megalith.core.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.config.ConfigException;
import io.megalith.core.lora.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The GPT fine-tuning config: the shipped files parse; every error names its YAML path and the fix. */
class GptFinetuneConfigTest {
    private static final String VALID = """
            family: gpt
            base: {run: runs/x}
            task: {kind: pairs, builtin: upper}
            finetune: {steps: 10, lora: {rank: 4, alpha: 8, targets: [attn.qkv, blocks.1.mlp.fc]}}
            output: {dir: out}
            """;

    private static GptFinetuneConfig.Loaded parse(String yaml) throws Exception {
        JsonNode n = new YAMLMapper().readTree(yaml);
        return GptFinetuneConfig.parse("test.yaml", n);
    }

    private static String error(String yaml) {
        return assertThatThrownBy(() -> parse(yaml)).isInstanceOf(ConfigException.class).actual().getMessage();
    }

    /** The one-rank format (top-level family: gpt); conf/gpt-finetune-*.yaml are now in the train format. */
    @Test
    void oneRankFormatFiles(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path f = dir.resolve("old.yaml");
        java.nio.file.Files.writeString(f, """
                family: gpt
                base: {run: runs/shakespeare-char}
                task: {kind: causal_lm, path: null}
                finetune: {steps: 300, freeze_blocks: 1, lora: {rank: 0}}
                output: {dir: out}
                """);
        assertThat(GptFinetuneConfig.isGpt(f)).isTrue();
        assertThat(GptFinetuneConfig.isGpt(Path.of("../conf/gpt-finetune-upper.yaml"))).isFalse();
        assertThat(GptFinetuneConfig.isGpt(Path.of("../conf/bert-shakespeare-speakers.yaml"))).isFalse();
        GptFinetune.Settings text = GptFinetuneConfig.load(f, List.of("task.path=some.txt", "finetune.steps=7")).settings();
        assertThat(text.task()).isEqualTo("causal_lm");
        assertThat(text.steps()).isEqualTo(7);
        assertThat(text.freezeBlocks()).isEqualTo(1);
        assertThat(text.lora().enabled()).isFalse();
        assertThatThrownBy(() -> GptFinetuneConfig.load(f, List.of()))
                .hasMessageContaining("task.path: required for task.kind causal_lm");
    }

    @Test
    void validAndDefaults() throws Exception {
        GptFinetune.Settings s = parse(VALID).settings();
        assertThat(s.baseRun()).isEqualTo("runs/x");
        assertThat(s.steps()).isEqualTo(10);
        assertThat(s.batchSize()).isEqualTo(16);
        assertThat(s.lora().targets()).containsExactly("attn.qkv", "blocks.1.mlp.fc");
        assertThat(s.evalEvery()).isEqualTo(2);
        assertThat(s.saveMerged()).isTrue();
        assertThat(s.temperature()).isZero();
        assertThat(parse(VALID.replace("kind: pairs, builtin: upper", "kind: causal_lm, path: t.txt")).settings()
                .temperature()).isEqualTo(0.8);
    }

    @Test
    void errorsNameThePathAndTheFix(@TempDir Path dir) throws Exception {
        assertThat(error(VALID.replace("rank: 4", "rnak: 4"))).contains("test.yaml")
                .contains("finetune.lora.rnak: unknown key; allowed in finetune.lora: [alpha, rank, targets]");
        assertThat(error(VALID.replace("family: gpt", "family: bert"))).contains("family: must be gpt");
        assertThat(error(VALID.replace("base: {run: runs/x}", "base: {run: runs/x, safetensors: m.safetensors}")))
                .contains("base: set exactly one of base.run").contains("got both");
        assertThat(error(VALID.replace("base: {run: runs/x}", "base: {safetensors: m.safetensors}")))
                .contains("base.tokenizer: required with base.safetensors");
        assertThat(error(VALID.replace("kind: pairs", "kind: chat"))).contains("task.kind: chat is not one of [causal_lm, pairs]");
        assertThat(error(VALID.replace("builtin: upper", "builtin: lower"))).contains("task.builtin: lower is not one of [upper]");
        assertThat(error(VALID.replace("builtin: upper", "builtin: upper, path: p.tsv")))
                .contains("task: pairs need exactly one of task.path");
        assertThat(error(VALID.replace("kind: pairs, builtin: upper", "kind: causal_lm")))
                .contains("task.path: required for task.kind causal_lm");
        assertThat(error(VALID.replace("steps: 10", "steps: 0"))).contains("finetune.steps: must be a positive integer");
        assertThat(error(VALID.replace("blocks.1.mlp.fc", "mlp.gate")))
                .contains("finetune.lora.targets: mlp.gate is not a GPT linear layer; use attn.qkv, attn.proj, mlp.fc");
        assertThat(error(VALID.replace("output: {dir: out}", ""))).contains("output.dir: required");
        assertThat(error(VALID.replace("finetune: {", "finetune: {freeze: wte., "))).contains("finetune.freeze: must be a list");
        assertThat(error(VALID + "task2: 1\n")).contains("task2: unknown key; allowed: [base, family");
        Path f = dir.resolve("c.yaml");
        Files.writeString(f, VALID);
        assertThatThrownBy(() -> GptFinetuneConfig.load(f, List.of("finetune.steps"))).hasMessageContaining(
                "override finetune.steps: expected key=value");
        assertThat(GptFinetuneConfig.load(f, List.of("finetune.lora.rank=0")).settings().lora().enabled()).isFalse();
    }
}
