package io.megalith.core.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.cfg.MapperBuilder;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.fasterxml.jackson.dataformat.yaml.util.StringQuotingChecker;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Reads a run's configuration: built-in defaults, then the YAML file, then {@code --set a.b=c}
 * overrides, bound strictly. An unknown key, a wrong type or an out-of-range value throws a
 * {@link ConfigException} naming the YAML path and what is allowed, before any work starts.
 */
public final class ConfigLoader {
    private static final String DEFAULTS = "megalith-defaults.yaml";
    /** Plain YAML reader, used only to decide whether a string must be quoted to read back as itself. */
    private static final ObjectMapper PLAIN_YAML = new YAMLMapper();
    private static final ObjectMapper YAML = strict(YAMLMapper.builder(
            YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                    .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
                    .stringQuotingChecker(new RoundTripQuoting())
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build()));
    private static final ObjectMapper JSON = strict(JsonMapper.builder());

    private ConfigLoader() {}

    private static ObjectMapper strict(MapperBuilder<?, ?> builder) {
        ObjectMapper m = builder
                .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                .build();
        for (LogicalType t : new LogicalType[] {LogicalType.Integer, LogicalType.Float, LogicalType.Boolean}) {
            m.coercionConfigFor(t).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
        }
        m.coercionConfigFor(LogicalType.Textual).setCoercion(CoercionInputShape.Integer, CoercionAction.TryConvert);
        return m;
    }

    /** Loads {@code file} (may be null: defaults only) with overrides "a.b=c". */
    public static MegalithConfig load(Path file, List<String> overrides) {
        String source = file == null ? "built-in defaults" : file.toString();
        ObjectNode tree = defaults();
        List<String> problems = new ArrayList<>();
        if (file != null) {
            if (!Files.isRegularFile(file)) {
                throw new ConfigException(source, "config file not found: " + file.toAbsolutePath());
            }
            String text;
            try {
                text = Files.readString(file);
            } catch (IOException e) {
                throw new ConfigException(source, "cannot read " + file.toAbsolutePath() + ": " + e);
            }
            merge(tree, readTree(text, source), "", problems);
        }
        return bind(tree, overrides, source, problems);
    }

    /**
     * Refuses a config file without keys ({@code megalith train --config}): it would silently train the defaults. The
     * problem suggests the nearest-named config beside it that has keys (an empty file is usually a wrong name or a
     * half-finished copy). Files that cannot be read are left to {@link #load}.
     */
    public static void requireKeys(Path file) {
        String text;
        try {
            text = Files.isRegularFile(file) ? Files.readString(file) : null;
        } catch (IOException e) {
            return;
        }
        if (text != null && readTree(text, file.toString()).isEmpty()) {
            throw new ConfigException(file.toString(), emptyConfig(file));
        }
    }

    private static String emptyConfig(Path file) {
        Path dir = file.toAbsolutePath().getParent();
        String name = file.getFileName().toString();
        String suggestion = null;
        if (dir != null) {
            try (Stream<Path> siblings = Files.list(dir)) {
                suggestion = siblings.filter(p -> p.getFileName().toString().matches(".*\\.ya?ml")
                                && !p.getFileName().toString().equals(name) && hasKeys(p))
                        .map(p -> p.getFileName().toString())
                        .min(Comparator.comparingInt((String n) -> editDistance(n, name)).thenComparing(n -> n))
                        .orElse(null);
            } catch (IOException e) {
                suggestion = null;
            }
        }
        if (suggestion == null) {
            return "empty config: " + file + " has no keys, so it would train the built-in defaults; did you mean to "
                    + "leave out --config (the built-in job) or to name another file?";
        }
        Path shown = file.getParent() == null ? Path.of(suggestion) : file.getParent().resolve(suggestion);
        return "empty config: " + file + " has no keys, so it would train the built-in defaults; did you mean --config "
                + shown + "? (to train the built-in job, leave out --config)";
    }

    private static boolean hasKeys(Path yaml) {
        try {
            JsonNode n = PLAIN_YAML.readTree(Files.readString(yaml));
            return n != null && n.isObject() && !n.isEmpty();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Parses YAML text (e.g. a config saved in a checkpoint) with overrides. */
    public static MegalithConfig fromYaml(String yaml, List<String> overrides, String source) {
        ObjectNode tree = defaults();
        List<String> problems = new ArrayList<>();
        merge(tree, readTree(yaml, source), "", problems);
        return bind(tree, overrides, source, problems);
    }

    /**
     * Applies the overrides, binds and range-checks, reporting every problem found: unknown keys and
     * misplaced sections (from the file and from {@code --set}) together with the first type error or,
     * when the types are right, every range problem.
     */
    private static MegalithConfig bind(ObjectNode tree, List<String> overrides, String source,
            List<String> problems) {
        for (String o : overrides) {
            applyOverride(tree, o, problems);
        }
        int fromOverrides = problems.size();
        applyMicrobatches(tree);
        boolean autoWorkers = takeAutoWorkers(tree, problems);
        MegalithConfig cfg = bindTree(tree, problems);
        if (cfg != null && autoWorkers) {
            int workers = cfg.autoWorkers();
            if (workers != cfg.runtime().workers()) {
                ((ObjectNode) tree.get("runtime")).put("workers", workers);
                cfg = bindTree(tree, problems);
            }
        }
        if (cfg != null) {
            problems.addAll(cfg.problems());
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(source, attributeToOverrides(problems, fromOverrides, overrides));
        }
        return cfg;
    }

    /**
     * Problems of a key that a --set gave its value end by naming that --set (the last one for the key), as unknown
     * keys of --set already do: a value from the command line is not searched for in the file.
     */
    private static List<String> attributeToOverrides(List<String> problems, int from, List<String> overrides) {
        List<String> out = new ArrayList<>(problems.subList(0, from));
        for (String p : problems.subList(from, problems.size())) {
            String by = null;
            for (String o : overrides) {
                int eq = o.indexOf('=');
                if (eq > 0 && p.startsWith(o.substring(0, eq).trim() + ":")) {
                    by = o;
                }
            }
            out.add(by == null ? p : p + " [from --set " + by + "]");
        }
        return out;
    }

    private static MegalithConfig bindTree(ObjectNode tree, List<String> problems) {
        try {
            return YAML.treeToValue(tree, MegalithConfig.class);
        } catch (JsonProcessingException e) {
            problems.add(describe(e, tree));
        } catch (IllegalArgumentException e) {
            problems.add(e.getMessage());
        }
        return null;
    }

    /** The value of runtime.workers that lets {@link MegalithConfig#autoWorkers()} choose. */
    public static final String AUTO = "auto";

    /**
     * Whether runtime.workers is {@code auto}: it is then bound as 1 and resolved once the layout is known. Any other
     * string is a problem here (the binder would only say "expected an integer").
     */
    private static boolean takeAutoWorkers(ObjectNode tree, List<String> problems) {
        JsonNode w = tree.path("runtime").path("workers");
        if (!w.isTextual() || !(tree.get("runtime") instanceof ObjectNode runtime)) {
            return false;
        }
        if (!AUTO.equals(w.textValue())) {
            problems.add("runtime.workers: must be auto or an integer >= 1 (got the string '" + w.textValue() + "')");
        }
        runtime.put("workers", 1);
        return AUTO.equals(w.textValue());
    }

    /**
     * parallel.microbatches (Megatron's name) and train.grad_accum are one quantity, the micro-batches of a
     * step: a positive microbatches fills a grad_accum left at 1; any other disagreement is reported by
     * {@link MegalithConfig#problems()}.
     */
    private static void applyMicrobatches(ObjectNode tree) {
        JsonNode micro = tree.path("parallel").path("microbatches");
        JsonNode accum = tree.path("train").path("grad_accum");
        if (micro.isInt() && micro.intValue() > 0 && accum.isInt() && accum.intValue() == 1
                && tree.get("train") instanceof ObjectNode train) {
            train.put("grad_accum", micro.intValue());
        }
    }

    /** The configuration as YAML, with every key (what a run actually used). */
    public static String toYaml(MegalithConfig cfg) {
        try {
            return YAML.writeValueAsString(cfg);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The configuration as a JSON tree (for metrics and manifests). */
    public static JsonNode toJson(MegalithConfig cfg) {
        return JSON.valueToTree(cfg);
    }

    private static ObjectNode defaults() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream(DEFAULTS)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + DEFAULTS);
            }
            return (ObjectNode) YAML.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode readTree(String yaml, String source) {
        try {
            JsonNode node = YAML.readTree(yaml);
            if (node == null || node.isMissingNode() || node.isNull()) {
                return JsonNodeFactory.instance.objectNode();
            }
            if (!node.isObject()) {
                throw new ConfigException(source, "top level: must be a mapping of sections (run:, model:, ...)");
            }
            return node;
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()
                    + ", column " + e.getLocation().getColumnNr();
            throw new ConfigException(source, "not valid YAML" + where + ": " + e.getOriginalMessage());
        }
    }

    /**
     * Deep-merges {@code src} into {@code dst} (the defaults, which hold every key). A key the defaults
     * do not have, or a section given as a value, is a problem; every such problem is collected and the
     * offending entry is left out. Values of the wrong scalar type are left to the binder.
     */
    private static void merge(ObjectNode dst, JsonNode src, String prefix, List<String> problems) {
        Iterator<Map.Entry<String, JsonNode>> it = src.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = prefix + e.getKey();
            JsonNode existing = dst.get(e.getKey());
            if (existing == null) {
                problems.add(unknownKey(path, e.getKey(), fieldNames(dst)));
            } else if (existing.isObject() && !e.getValue().isObject()) {
                problems.add(notASection(path, existing, e.getValue()));
            } else if (existing.isObject()) {
                merge((ObjectNode) existing, e.getValue(), path + ".", problems);
            } else {
                dst.set(e.getKey(), e.getValue());
            }
        }
    }

    private static String notASection(String path, JsonNode section, JsonNode got) {
        return path + ": expected a section (a mapping with keys " + String.join(", ", fieldNames(section))
                + "), got " + render(got);
    }

    /** Applies one {@code a.b=c} override; a problem is added to {@code problems} instead of applying it. */
    private static void applyOverride(ObjectNode tree, String override, List<String> problems) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            problems.add("--set " + override + ": expected key.path=value, e.g. --set train.max_steps=100");
            return;
        }
        String path = override.substring(0, eq).trim();
        String raw = override.substring(eq + 1);
        String[] keys = path.split("\\.", -1);
        ObjectNode node = tree;
        for (int i = 0; i < keys.length - 1; i++) {
            String sub = String.join(".", List.of(keys).subList(0, i + 1));
            JsonNode child = node.get(keys[i]);
            if (child == null) {
                problems.add("--set " + override + ": " + unknownKey(sub, keys[i], fieldNames(node)));
                return;
            }
            if (!child.isObject()) {
                problems.add("--set " + override + ": " + sub + " is a value, not a section");
                return;
            }
            node = (ObjectNode) child;
        }
        String leaf = keys[keys.length - 1];
        JsonNode existing = node.get(leaf);
        if (existing == null) {
            problems.add("--set " + override + ": " + unknownKey(path, leaf, fieldNames(node)));
            return;
        }
        JsonNode value = existing.isArray() ? parseList(raw) : parseScalar(raw);
        if (existing.isObject()) {
            problems.add("--set " + override + ": " + notASection(path, existing, value)
                    + "; set its keys one by one, e.g. --set " + path + "." + fieldNames(existing).get(0) + "=...");
            return;
        }
        node.set(leaf, value);
    }

    /**
     * An override value as a YAML scalar (int, float such as 1e-3, true/false, null, string); anything
     * that does not read as a single scalar ("a: b", "[1]", "# x", broken quoting) is taken as the literal
     * string, so free text such as a prompt needs no quoting. The empty string is the empty string.
     */
    private static JsonNode parseScalar(String raw) {
        if (raw.isEmpty()) {
            return JsonNodeFactory.instance.textNode("");
        }
        try {
            JsonNode value = YAML.readTree(raw);
            if (value != null && value.isValueNode()) {
                return value;
            }
        } catch (JsonProcessingException e) {
            // not YAML: literal text
        }
        return JsonNodeFactory.instance.textNode(raw);
    }

    /** A list override: YAML flow syntax ({@code [a, b]}) or comma-separated items ({@code a,b}); "" or [] is empty. */
    private static JsonNode parseList(String raw) {
        try {
            JsonNode value = YAML.readTree(raw);
            if (value != null && value.isArray()) {
                return value;
            }
        } catch (JsonProcessingException e) {
            // not YAML: comma-separated items
        }
        ArrayNode list = JsonNodeFactory.instance.arrayNode();
        for (String item : raw.split(",")) {
            if (!item.isBlank()) {
                list.add(parseScalar(item.trim()));
            }
        }
        return list;
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static String describe(JsonProcessingException e, JsonNode tree) {
        String path = pathOf(e);
        if (e instanceof UnrecognizedPropertyException u) {
            List<String> known = u.getKnownPropertyIds().stream().map(Object::toString).sorted().toList();
            return unknownKey(path, u.getPropertyName(), known);
        }
        if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            JsonNode got = at(tree, path);
            return path + ": expected " + typeName(m.getTargetType()) + ", got "
                    + (got != null ? render(got) : "'" + firstLine(m.getOriginalMessage()) + "'");
        }
        return path + ": " + firstLine(e.getOriginalMessage());
    }

    private static JsonNode at(JsonNode tree, String path) {
        JsonNode node = tree;
        for (String key : path.split("\\.")) {
            node = node == null ? null : node.get(key);
        }
        return node;
    }

    /** A value as the user wrote it, for "got ..." in messages. */
    private static String render(JsonNode v) {
        if (v == null || v.isNull() || v.isMissingNode()) {
            return "no value (null)";
        }
        if (v.isObject()) {
            return "a section (mapping)";
        }
        if (v.isArray()) {
            return "a list";
        }
        if (v.isTextual()) {
            return "the string '" + v.asText() + "'";
        }
        return v.asText();
    }

    private static String pathOf(JsonProcessingException e) {
        if (e instanceof JsonMappingException m) {
            return m.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining("."));
        }
        return "(config)";
    }

    private static String unknownKey(String path, String key, List<String> allowed) {
        String suggestion = allowed.stream()
                .min(Comparator.comparingInt(a -> editDistance(a, key)))
                .filter(a -> editDistance(a, key) <= Math.max(2, key.length() / 3))
                .map(a -> "; did you mean '" + a + "'")
                .orElse("");
        return path + ": unknown key '" + key + "'" + suggestion + ". Allowed here: " + String.join(", ", allowed);
    }

    private static String typeName(Class<?> t) {
        if (t == int.class || t == Integer.class || t == long.class || t == Long.class) {
            return "an integer";
        }
        if (t == double.class || t == Double.class || t == float.class) {
            return "a number";
        }
        if (t == boolean.class || t == Boolean.class) {
            return "true or false";
        }
        if (t == String.class) {
            return "a string";
        }
        return "a " + t.getSimpleName().toLowerCase(Locale.ROOT) + " section";
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /**
     * Quotes a string whenever its plain form would not read back as the same string (e.g. "1.50",
     * "0x10", "007", "yes", "~"), so that {@link #toYaml} output parses back to an equal config.
     */
    private static final class RoundTripQuoting extends StringQuotingChecker.Default {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean needToQuoteValue(String value) {
            if (super.needToQuoteValue(value)) {
                return true;
            }
            try {
                JsonNode back = PLAIN_YAML.readTree(value);
                return back == null || !back.isTextual() || !back.textValue().equals(value);
            } catch (JsonProcessingException e) {
                return true;
            }
        }
    }
}
