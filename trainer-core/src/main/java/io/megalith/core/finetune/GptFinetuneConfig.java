package io.megalith.core.finetune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.config.ConfigException;
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
 * Reads a GPT fine-tuning config ({@code conf/gpt-finetune-*.yaml}, {@code family: gpt}) into
 * {@link GptFinetune.Settings}: every key must be known, values are checked, and each error names its YAML path
 * and what to write instead. {@code a.b=c} overrides use dotted paths. Absent keys take the defaults below.
 */
public final class GptFinetuneConfig {
    /** The task kinds: continued causal LM on a text file, or prompt -> answer pairs (loss on answers only). */
    public static final Set<String> TASKS = Set.of("causal_lm", "pairs");
    /** Built-in pair sets needing no file: {@code upper} maps a word of the base text to its upper case. */
    public static final Set<String> BUILTINS = Set.of("upper");

    private static final Map<String, Set<String>> KEYS = Map.of(
            "", Set.of("family", "seed", "base", "task", "finetune", "output", "generate", "runtime"),
            "base", Set.of("run", "safetensors", "tokenizer", "n_head"),
            "task", Set.of("kind", "path", "builtin", "source", "eval_fraction", "max_pairs"),
            "finetune", Set.of("steps", "batch_size", "lr", "dropout", "freeze", "freeze_blocks", "lora", "eval_every"),
            "finetune.lora", Set.of("rank", "alpha", "targets"),
            "output", Set.of("dir", "save_merged"),
            "generate", Set.of("prompts", "max_new_tokens", "temperature", "top_k"),
            "runtime", Set.of("threads"));

    public record Loaded(GptFinetune.Settings settings, int threads) {}

    private GptFinetuneConfig() {}

    /** Whether {@code file} is a GPT fine-tuning config (top-level {@code family: gpt}). */
    public static boolean isGpt(Path file) throws IOException {
        JsonNode root = new YAMLMapper().readTree(Files.readString(file));
        return root != null && "gpt".equals(root.path("family").asText(""));
    }

    public static Loaded load(Path file, List<String> overrides) throws IOException {
        YAMLMapper yaml = new YAMLMapper();
        JsonNode tree = yaml.readTree(Files.readString(file));
        if (!(tree instanceof ObjectNode root)) {
            throw new ConfigException(file.toString(), "the file is not a YAML mapping");
        }
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq < 0) {
                throw new ConfigException(file.toString(), "override " + o + ": expected key=value, e.g. finetune.steps=100");
            }
            String[] path = o.substring(0, eq).split("\\.");
            ObjectNode at = root;
            for (int i = 0; i < path.length - 1; i++) {
                at = at.get(path[i]) instanceof ObjectNode n ? n : at.putObject(path[i]);
            }
            at.set(path[path.length - 1], yaml.readTree(o.substring(eq + 1)));
        }
        return parse(file.toString(), root);
    }

    /** The settings of a parsed YAML tree; {@code source} names it in errors. */
    public static Loaded parse(String source, JsonNode root) {
        List<String> problems = new ArrayList<>();
        check(root, "", problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(source, problems);
        }
        if (!"gpt".equals(root.path("family").asText(""))) {
            problems.add("family: must be gpt for GPT fine-tuning (got " + root.path("family") + "); a BERT config "
                    + "sets model.family: bert instead");
        }
        JsonNode b = root.path("base");
        String run = str(b, "run");
        String st = str(b, "safetensors");
        String tok = str(b, "tokenizer");
        int nHead = b.path("n_head").asInt(0);
        if ((run == null) == (st == null)) {
            problems.add("base: set exactly one of base.run (the run.dir of a `megalith train` run) or base.safetensors "
                    + "(a GPT state dict)" + (run != null ? "; got both" : "; got neither"));
        }
        if (st != null && tok == null) {
            problems.add("base.tokenizer: required with base.safetensors (the tokenizer.json the weights were trained with)");
        }
        JsonNode t = root.path("task");
        String kind = t.path("kind").asText("pairs");
        String path = str(t, "path");
        String builtin = str(t, "builtin");
        if (!TASKS.contains(kind)) {
            problems.add("task.kind: " + kind + " is not one of " + new TreeSet<>(TASKS));
        } else if (kind.equals("causal_lm")) {
            if (path == null) {
                problems.add("task.path: required for task.kind causal_lm (the text file to continue training on)");
            }
            if (builtin != null) {
                problems.add("task.builtin: only for task.kind pairs; remove it");
            }
        } else if ((path == null) == (builtin == null)) {
            problems.add("task: pairs need exactly one of task.path (JSONL {\"prompt\", \"answer\"} or prompt<TAB>answer "
                    + "lines) or task.builtin (" + String.join(", ", new TreeSet<>(BUILTINS)) + ")");
        } else if (builtin != null && !BUILTINS.contains(builtin)) {
            problems.add("task.builtin: " + builtin + " is not one of " + new TreeSet<>(BUILTINS));
        }
        double evalFraction = t.path("eval_fraction").asDouble(0.1);
        if (!(evalFraction > 0 && evalFraction < 1)) {
            problems.add("task.eval_fraction: must be in (0, 1), got " + evalFraction);
        }
        JsonNode f = root.path("finetune");
        int steps = positive(f, "finetune.steps", "steps", 300, problems);
        int batch = positive(f, "finetune.batch_size", "batch_size", 16, problems);
        double lr = f.path("lr").asDouble(1e-3);
        if (!(lr > 0)) {
            problems.add("finetune.lr: must be > 0, got " + f.path("lr"));
        }
        double dropout = f.path("dropout").asDouble(0.0);
        if (dropout < 0 || dropout >= 1) {
            problems.add("finetune.dropout: must be in [0, 1), got " + dropout);
        }
        int freezeBlocks = f.path("freeze_blocks").asInt(0);
        if (freezeBlocks < 0) {
            problems.add("finetune.freeze_blocks: must be >= 0 (the first N blocks are frozen), got " + freezeBlocks);
        }
        List<String> freeze = new ArrayList<>();
        if (!f.path("freeze").isMissingNode() && !f.path("freeze").isNull() && !f.path("freeze").isArray()) {
            problems.add("finetune.freeze: must be a list of parameter-name prefixes, e.g. [wte., wpe., blocks.0.]");
        }
        f.path("freeze").forEach(n -> freeze.add(n.asText()));
        JsonNode l = f.path("lora");
        int rank = l.path("rank").asInt(0);
        double alpha = l.path("alpha").asDouble(2.0 * rank);
        List<String> targets = new ArrayList<>();
        l.path("targets").forEach(n -> targets.add(n.asText()));
        if (rank < 0) {
            problems.add("finetune.lora.rank: must be >= 0 (0: no LoRA, full fine-tuning), got " + rank);
        }
        if (rank > 0 && targets.isEmpty()) {
            targets.addAll(List.of("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"));
        }
        for (String target : targets) {
            if (!target.equals("*") && !target.matches("(blocks\\.\\d+\\.)?(attn\\.(qkv|proj)|mlp\\.(fc|proj))")) {
                problems.add("finetune.lora.targets: " + target + " is not a GPT linear layer; use attn.qkv, attn.proj, "
                        + "mlp.fc, mlp.proj (optionally prefixed blocks.N.) or *");
            }
        }
        int evalEvery = f.path("eval_every").asInt(Math.max(1, steps / 4));
        JsonNode o = root.path("output");
        String dir = str(o, "dir");
        if (dir == null) {
            problems.add("output.dir: required (where adapters / the fine-tuned model are written)");
        }
        JsonNode g = root.path("generate");
        List<String> prompts = new ArrayList<>();
        g.path("prompts").forEach(n -> prompts.add(n.asText()));
        double temperature = g.path("temperature").asDouble(kind.equals("pairs") ? 0.0 : 0.8);
        if (temperature < 0) {
            problems.add("generate.temperature: must be >= 0 (0: greedy), got " + temperature);
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(source, problems);
        }
        LoraConfig lora = rank == 0 ? LoraConfig.NONE : new LoraConfig(rank, alpha, targets);
        GptFinetune.Settings s = new GptFinetune.Settings(root.path("seed").asLong(1337), run, st, tok, nHead, kind, path,
                builtin, str(t, "source"), evalFraction, t.path("max_pairs").asInt(0), steps, batch, lr, dropout, freeze,
                freezeBlocks, lora, evalEvery, dir, o.path("save_merged").asBoolean(true), prompts,
                g.path("max_new_tokens").asInt(24), temperature, g.path("top_k").asInt(200));
        return new Loaded(s, root.path("runtime").path("threads").asInt(1));
    }

    private static int positive(JsonNode n, String name, String key, int dflt, List<String> problems) {
        JsonNode v = n.path(key);
        if (v.isMissingNode() || v.isNull()) {
            return dflt;
        }
        if (!v.canConvertToInt() || v.asInt() <= 0) {
            problems.add(name + ": must be a positive integer, got " + v);
        }
        return v.asInt();
    }

    private static String str(JsonNode n, String key) {
        JsonNode v = n.path(key);
        return v.isMissingNode() || v.isNull() ? null : v.asText();
    }

    private static void check(JsonNode node, String path, List<String> problems) {
        Set<String> allowed = KEYS.get(path);
        node.fieldNames().forEachRemaining(k -> {
            String full = path.isEmpty() ? k : path + "." + k;
            if (!allowed.contains(k)) {
                problems.add(full + ": unknown key; allowed" + (path.isEmpty() ? "" : " in " + path) + ": "
                        + new TreeSet<>(allowed));
            } else if (KEYS.containsKey(full)) {
                if (node.get(k).isObject()) {
                    check(node.get(k), full, problems);
                } else if (!node.get(k).isNull()) {
                    problems.add(full + ": must be a mapping of " + new TreeSet<>(KEYS.get(full)));
                }
            }
        });
    }
}
