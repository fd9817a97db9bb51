package io.megalith.core.model.seq2seq;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.config.ConfigException;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.optim.ModuleTrainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a seq2seq task config (e.g. {@code conf/seq2seq-reverse.yaml}; {@code data.task: pairs} with
 * {@code data.path} for source<TAB>target lines of a file) into {@link Seq2SeqTraining.Settings}:
 * sections {@code model}, {@code data}, {@code train}, {@code decode}, {@code runtime}; every key optional
 * (defaults below), unknown keys rejected with their path. {@code key=value} overrides use dotted paths.
 */
public final class Seq2SeqTaskConfig {
    private static final Map<String, Set<String>> KEYS = Map.of(
            "", Set.of("seed", "model", "data", "train", "decode", "runtime"),
            "model", Set.of("family", "n_encoder_layer", "n_decoder_layer", "n_head", "n_embd", "dropout"),
            "data", Set.of("task", "path", "min_len", "max_len", "held_out_fraction", "eval_strings"),
            "train", Set.of("max_steps", "batch_size", "lr", "min_lr", "warmup_steps", "weight_decay", "beta1", "beta2",
                    "grad_clip", "eval_every"),
            "decode", Set.of("beams"),
            "runtime", Set.of("threads"));

    private Seq2SeqTaskConfig() {}

    /** The settings and the number of intra-op threads. */
    public record Loaded(Seq2SeqTraining.Settings settings, int threads) {}

    public static Loaded load(Path file, List<String> overrides) throws IOException {
        YAMLMapper yaml = new YAMLMapper();
        ObjectNode root =
                (ObjectNode) yaml.readTree(Files.readString(file));
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq < 0) {
                throw new ConfigException(null, "override " + o + ": expected key=value");
            }
            String[] path = o.substring(0, eq).split("\\.");
            ObjectNode at = root;
            for (int i = 0; i < path.length - 1; i++) {
                at = at.has(path[i]) ? (ObjectNode) at.get(path[i]) : at.putObject(path[i]);
            }
            at.set(path[path.length - 1], yaml.readTree(o.substring(eq + 1)));
        }
        check(root, "");
        String family = root.path("model").path("family").asText(ModelFamilies.ENCODER_DECODER.name());
        String task = root.path("data").path("task").asText("reverse");
        if (!ModelFamilies.ENCODER_DECODER.named(family) || !(task.equals("reverse") || task.equals("pairs"))) {
            throw new ConfigException(null, "model.family must be encoder_decoder and data.task reverse or pairs (got "
                    + family + ", " + task + ")");
        }
        JsonNode m = root.path("model");
        JsonNode d = root.path("data");
        JsonNode t = root.path("train");
        int steps = t.path("max_steps").asInt(3000);
        double lr = t.path("lr").asDouble(1e-3);
        ModuleTrainer.Settings optim = new ModuleTrainer.Settings(lr, t.path("min_lr").asDouble(lr / 10),
                t.path("warmup_steps").asInt(100), steps, t.path("weight_decay").asDouble(0.01),
                t.path("beta1").asDouble(0.9), t.path("beta2").asDouble(0.99), 1e-8, t.path("grad_clip").asDouble(1.0));
        Seq2SeqTraining.Settings s = new Seq2SeqTraining.Settings(root.path("seed").asLong(1337), task,
                d.path("path").asText(""), d.path("min_len").asInt(4), d.path("max_len").asInt(8), d.path("held_out_fraction").asDouble(0.1),
                m.path("n_encoder_layer").asInt(2), m.path("n_decoder_layer").asInt(2), m.path("n_head").asInt(4),
                m.path("n_embd").asInt(64), m.path("dropout").asDouble(0.0), steps, t.path("batch_size").asInt(64), optim,
                t.path("eval_every").asInt(500), d.path("eval_strings").asInt(1000), root.path("decode").path("beams").asInt(1));
        return new Loaded(s, root.path("runtime").path("threads").asInt(1));
    }

    private static void check(JsonNode node, String path) {
        Set<String> allowed = KEYS.get(path);
        node.fieldNames().forEachRemaining(k -> {
            if (!allowed.contains(k)) {
                throw new ConfigException(null, (path.isEmpty() ? k : path + "." + k) + ": unknown key; allowed: "
                        + new TreeSet<>(allowed));
            }
            if (path.isEmpty() && KEYS.containsKey(k)) {
                check(node.get(k), k);
            }
        });
    }
}
