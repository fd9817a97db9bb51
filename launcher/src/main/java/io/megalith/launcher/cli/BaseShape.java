package io.megalith.launcher.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.train.BaseRun;
import io.megalith.core.train.TrainingRun;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * A fine-tune's model shape from its base ({@code megalith finetune}, {@code megalith train --config}): when
 * checkpoint.init_from is a {@code megalith train} run directory, the model keys the config file does not set and no
 * --set names come from the base run's saved config.yaml, so a fine-tune config need not repeat (and cannot get
 * wrong) n_layer, n_head, n_embd, block_size and bias.
 */
final class BaseShape {
    private static final List<String> KEYS = List.of("n_layer", "n_head", "n_embd", "block_size", "bias");

    private BaseShape() {}

    /** {@code overrides} preceded by the base's shape keys the file and overrides leave unset. */
    static List<String> overrides(Path file, List<String> overrides) throws IOException {
        Configuration hadoop = new Configuration();
        if (!Files.isRegularFile(file)) {
            return overrides; // ConfigLoader reports the missing file as a config error
        }
        JsonNode root;
        try {
            root = new YAMLMapper().readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            return overrides; // ConfigLoader reports the broken YAML with its position
        }
        if (root == null || !root.isObject()) {
            return overrides; // ConfigLoader names the problem
        }
        String initFrom = root.path("checkpoint").path("init_from").asText("");
        for (String o : overrides) { // the last --set wins, as in ConfigLoader
            if (o.startsWith("checkpoint.init_from=")) {
                initFrom = o.substring("checkpoint.init_from=".length());
            }
        }
        if (!BaseRun.isRun(initFrom, hadoop)) {
            return overrides;
        }
        RunDirFs dir = RunDirFs.of(initFrom, hadoop);
        if (!dir.exists(TrainingRun.CONFIG_FILE)) {
            return overrides; // a checkpoint directory, or a run without its config: the shape check still names keys
        }
        MegalithConfig base = ConfigLoader.fromYaml(new String(dir.read(TrainingRun.CONFIG_FILE), StandardCharsets.UTF_8),
                List.of(), initFrom + "/" + TrainingRun.CONFIG_FILE);
        MegalithConfig.Model m = base.model();
        Map<String, Object> shape = new LinkedHashMap<>();
        shape.put("n_layer", m.nLayer());
        shape.put("n_head", m.nHead());
        shape.put("n_embd", m.nEmbd());
        shape.put("block_size", m.blockSize());
        shape.put("bias", m.bias());
        JsonNode model = root.path("model");
        List<String> out = new ArrayList<>();
        for (String k : KEYS) {
            boolean set = model.has(k) || overrides.stream().anyMatch(o -> o.startsWith("model." + k + "="));
            if (!set) {
                out.add("model." + k + "=" + shape.get(k));
            }
        }
        out.addAll(overrides);
        return out;
    }
}
