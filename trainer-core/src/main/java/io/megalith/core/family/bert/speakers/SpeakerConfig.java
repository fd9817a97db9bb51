package io.megalith.core.family.bert.speakers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.config.ConfigException;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a BERT pre-train / fine-tune config ({@code conf/bert-shakespeare-speakers.yaml}) into
 * {@link SpeakerExperiment.Settings}: every key must be known (the error names it), {@code a.b=c} overrides
 * use dotted paths, and the file's keys are all required (the shipped config is the reference).
 */
public final class SpeakerConfig {
    private static final Map<String, Set<String>> KEYS = Map.of(
            "", Set.of("seed", "run", "model", "data", "pretrain", "finetune", "runtime"),
            "run", Set.of("dir", "pretrained"),
            "model", Set.of("family", "n_layer", "n_head", "n_embd", "seq_len", "dropout", "pre_ln", "nsp"),
            "data", Set.of("path", "speakers", "test_fraction"),
            "pretrain", Set.of("steps", "batch_size", "lr"),
            "finetune", Set.of("steps", "batch_size", "lr", "freeze", "lora"),
            "finetune.lora", Set.of("rank", "alpha", "lr", "targets"),
            "runtime", Set.of("threads"));

    /** The settings, the training text's path and the number of intra-op threads. */
    public record Loaded(SpeakerExperiment.Settings settings, Path data, int threads) {}

    private SpeakerConfig() {}

    public static Loaded load(Path file, List<String> overrides) throws IOException {
        YAMLMapper yaml = new YAMLMapper();
        ObjectNode root = (ObjectNode) yaml.readTree(Files.readString(file));
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq < 0) {
                throw new ConfigException(file.toString(), "override " + o + ": expected key=value");
            }
            String[] path = o.substring(0, eq).split("\\.");
            ObjectNode at = root;
            for (int i = 0; i < path.length - 1; i++) {
                at = at.has(path[i]) ? (ObjectNode) at.get(path[i]) : at.putObject(path[i]);
            }
            at.set(path[path.length - 1], yaml.readTree(o.substring(eq + 1)));
        }
        check(file, root, "");
        String family = text(file, root, "model", "family");
        if (!ModelFamilies.BERT.named(family)) {
            throw new ConfigException(file.toString(), "model.family: this pipeline fine-tunes bert (got " + family + ")");
        }
        JsonNode run = root.path("run");
        JsonNode m = root.path("model");
        JsonNode d = root.path("data");
        JsonNode p = root.path("pretrain");
        JsonNode f = root.path("finetune");
        JsonNode l = f.path("lora");
        List<String> freeze = new ArrayList<>();
        f.path("freeze").forEach(n -> freeze.add(n.asText()));
        List<String> targets = new ArrayList<>();
        l.path("targets").forEach(n -> targets.add(n.asText()));
        String runDir = run.path("dir").isTextual() ? run.path("dir").asText() : null;
        String pretrained = run.path("pretrained").isTextual() ? run.path("pretrained").asText() : null;
        SpeakerExperiment.Settings s = new SpeakerExperiment.Settings(root.path("seed").asLong(1337),
                d.path("speakers").asInt(5), d.path("test_fraction").asDouble(0.15), m.path("seq_len").asInt(64),
                m.path("n_layer").asInt(4), m.path("n_head").asInt(4), m.path("n_embd").asInt(128),
                m.path("dropout").asDouble(0.1), m.path("pre_ln").asBoolean(false), m.path("nsp").asBoolean(true),
                p.path("steps").asInt(2000), p.path("batch_size").asInt(32), p.path("lr").asDouble(1e-3),
                f.path("steps").asInt(500), f.path("batch_size").asInt(32), f.path("lr").asDouble(3e-4), freeze,
                new LoraConfig(l.path("rank").asInt(0), l.path("alpha").asDouble(0), targets), l.path("lr").asDouble(1e-3),
                runDir, pretrained);
        return new Loaded(s, Path.of(text(file, root, "data", "path")), root.path("runtime").path("threads").asInt(1));
    }

    private static String text(Path file, JsonNode root, String section, String key) {
        JsonNode n = root.path(section).path(key);
        if (!n.isTextual()) {
            throw new ConfigException(file.toString(), section + "." + key + ": required");
        }
        return n.asText();
    }

    private static void check(Path file, JsonNode node, String path) {
        Set<String> allowed = KEYS.get(path);
        node.fieldNames().forEachRemaining(k -> {
            String full = path.isEmpty() ? k : path + "." + k;
            if (!allowed.contains(k)) {
                throw new ConfigException(file.toString(), full + ": unknown key; allowed: " + new TreeSet<>(allowed));
            }
            if (KEYS.containsKey(full) && node.get(k).isObject()) {
                check(file, node.get(k), full);
            }
        });
    }
}
