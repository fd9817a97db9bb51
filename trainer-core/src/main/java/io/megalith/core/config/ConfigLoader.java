package io.megalith.core.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Reads a run's configuration: built-in defaults, then the YAML file, then {@code --set a.b=c}
 * overrides, bound strictly. An unknown key, a wrong type or an out-of-range value throws a
 * {@link ConfigException} naming the YAML path and what is allowed, before any work starts.
 */
public final class ConfigLoader {
    private static final String DEFAULTS = "megalith-defaults.yaml";
    private static final ObjectMapper YAML = strict(YAMLMapper.builder(
            YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                    .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES).build()));
    private static final ObjectMapper JSON = strict(JsonMapper.builder());

    private ConfigLoader() {}

    private static ObjectMapper strict(com.fasterxml.jackson.databind.cfg.MapperBuilder<?, ?> builder) {
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
        if (file != null) {
            if (!Files.isRegularFile(file)) {
                throw new ConfigException(source, "config file not found: " + file.toAbsolutePath());
            }
            try {
                merge(tree, readTree(Files.readString(file), source), "");
            } catch (IOException e) {
                throw new ConfigException(source, "cannot read: " + e.getMessage());
            }
        }
        return bind(tree, overrides, source);
    }

    /** Parses YAML text (e.g. a config saved in a checkpoint) with overrides. */
    public static MegalithConfig fromYaml(String yaml, List<String> overrides, String source) {
        ObjectNode tree = defaults();
        merge(tree, readTree(yaml, source), "");
        return bind(tree, overrides, source);
    }

    private static MegalithConfig bind(ObjectNode tree, List<String> overrides, String source) {
        for (String o : overrides) {
            applyOverride(tree, o, source);
        }
        MegalithConfig cfg;
        try {
            cfg = YAML.treeToValue(tree, MegalithConfig.class);
        } catch (JsonProcessingException e) {
            throw new ConfigException(source, describe(e));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(source, e.getMessage());
        }
        List<String> problems = cfg.problems();
        if (!problems.isEmpty()) {
            throw new ConfigException(source, problems);
        }
        return cfg;
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

    /** Deep-merges {@code src} into {@code dst}; a section given as a scalar is a type error. */
    private static void merge(ObjectNode dst, JsonNode src, String prefix) {
        Iterator<Map.Entry<String, JsonNode>> it = src.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode existing = dst.get(e.getKey());
            if (existing != null && existing.isObject() && e.getValue().isObject()) {
                merge((ObjectNode) existing, e.getValue(), prefix + e.getKey() + ".");
            } else {
                dst.set(e.getKey(), e.getValue());
            }
        }
    }

    private static void applyOverride(ObjectNode tree, String override, String source) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException(source, "--set " + override + ": expected key.path=value, e.g. train.max_steps=100");
        }
        String path = override.substring(0, eq).trim();
        String raw = override.substring(eq + 1);
        String[] keys = path.split("\\.");
        ObjectNode node = tree;
        for (int i = 0; i < keys.length - 1; i++) {
            JsonNode child = node.get(keys[i]);
            if (child == null) {
                throw new ConfigException(source, unknownKey(String.join(".", List.of(keys).subList(0, i + 1)), keys[i],
                        fieldNames(node)));
            }
            if (!child.isObject()) {
                throw new ConfigException(source, "--set " + path + ": " + String.join(".", List.of(keys).subList(0, i + 1))
                        + " is a value, not a section");
            }
            node = (ObjectNode) child;
        }
        String leaf = keys[keys.length - 1];
        if (!node.has(leaf)) {
            throw new ConfigException(source, unknownKey(path, leaf, fieldNames(node)));
        }
        JsonNode value;
        try {
            value = raw.isEmpty() ? JsonNodeFactory.instance.textNode("") : YAML.readTree(raw);
        } catch (JsonProcessingException e) {
            value = JsonNodeFactory.instance.textNode(raw);
        }
        node.set(leaf, value == null || value.isMissingNode() ? JsonNodeFactory.instance.nullNode() : value);
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static String describe(JsonProcessingException e) {
        String path = pathOf(e);
        if (e instanceof UnrecognizedPropertyException u) {
            List<String> known = u.getKnownPropertyIds().stream().map(Object::toString).sorted().toList();
            return unknownKey(path, u.getPropertyName(), known);
        }
        if (e instanceof InvalidFormatException f) {
            return path + ": expected " + typeName(f.getTargetType()) + ", got '" + f.getValue() + "'";
        }
        if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            return path + ": expected " + typeName(m.getTargetType()) + " (" + firstLine(m.getOriginalMessage()) + ")";
        }
        return path + ": " + firstLine(e.getOriginalMessage());
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
        return "a " + t.getSimpleName() + " section";
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
}
