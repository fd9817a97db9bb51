package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.bert.BertConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The shapes checkpoints store as record text, read back as YAML keys. */
class ShapeYamlTest {
    @Test
    void gptWithMoeIsYamlWithConfigKeys() throws Exception {
        GptConfig gpt = new GptConfig(65, 64, 4, 4, 128, 0.0, true, new MegalithConfig.Moe(2, 4, 2, 1.25, 0.01, 0.001));
        String yaml = ShapeYaml.yaml("gpt", gpt.toString(), "");
        assertThat(yaml).doesNotContain("GptConfig", "[", "=");
        JsonNode m = new YAMLMapper().readTree(yaml).get("model");
        assertThat(m.get("family").asText()).isEqualTo("gpt");
        assertThat(m.get("vocab_size").asInt()).isEqualTo(65);
        assertThat(m.get("n_layer").asInt()).isEqualTo(4);
        assertThat(m.get("n_embd").isNumber()).isTrue();
        assertThat(m.get("bias").isBoolean()).isTrue();
        assertThat(m.get("moe").get("top_k").asInt()).isEqualTo(2);
        assertThat(m.get("moe").get("capacity_factor").asDouble()).isEqualTo(1.25);

        // MoE off is no part of a dense model's shape
        String dense = ShapeYaml.yaml("gpt", new GptConfig(65, 64, 4, 4, 128, 0.0, true).toString(), "");
        assertThat(dense).doesNotContain("moe");
    }

    @Test
    void bertClassifierWithLoraAndLabelsWithSpaces() throws Exception {
        BertConfig bert = BertConfig.of(100, 32, 2, 2, 64, 0).withLora(new LoraConfig(8, 16, List.of("attn.qkv")));
        String stored = bert + " classifier [KING HENRY, ROMEO] sentence pairs";
        JsonNode m = new YAMLMapper().readTree(ShapeYaml.yaml("bert", stored, "")).get("model");
        assertThat(m.get("max_positions").asInt()).isEqualTo(32);
        assertThat(m.get("pre_ln").asBoolean()).isFalse();
        assertThat(m.get("lora").get("targets").get(0).asText()).isEqualTo("attn.qkv");
        assertThat(m.get("classifier").get("labels").get(0).asText()).isEqualTo("KING HENRY");
        assertThat(m.get("classifier").get("sentence_pairs").asBoolean()).isTrue();
    }

    @Test
    void unreadableTextIsKeptWhole() throws Exception {
        JsonNode m = new YAMLMapper().readTree(ShapeYaml.yaml("odd", "Half[open=", "  ")).get("model");
        assertThat(m.get("shape").asText()).isEqualTo("Half[open=");
    }
}
