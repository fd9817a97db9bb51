package io.megalith.launcher.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A model shape as YAML keys ({@code n_layer: 4}). Checkpoints store a non-GPT family's shape as its config record's
 * {@code toString} ({@code BertConfig[vocabSize=64, nLayer=2, ...]}), compared verbatim on resume, so the format
 * cannot change; this reads that text back instead: records become maps with snake_case keys, {@code [a, b]} lists,
 * numbers and booleans typed values.
 */
final class ShapeYaml {
    private static final YAMLMapper YAML = YAMLMapper.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES).build();

    private final String text;
    private int pos;

    private ShapeYaml(String text) {
        this.text = text;
    }

    /** The shape as a YAML mapping under {@code model:}, each line indented by {@code indent}. */
    static String yaml(String family, String recordText, String indent) {
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("family", family);
        model.putAll(parse(recordText));
        try {
            String body = YAML.writeValueAsString(Map.of("model", model));
            return indent + body.strip().replace("\n", "\n" + indent) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * {@code Name[k=v, ...]} and what follows it (a classifier's {@code " classifier [labels] sentence pairs"}) as
     * a map; a text it cannot read is kept whole under {@code shape}, so nothing is lost.
     */
    static Map<String, Object> parse(String recordText) {
        Map<String, Object> out = new LinkedHashMap<>();
        try {
            ShapeYaml p = new ShapeYaml(recordText);
            Object v = p.value();
            if (!(v instanceof Map<?, ?> m)) {
                throw new IllegalArgumentException("not a record");
            }
            m.forEach((k, val) -> out.put((String) k, val));
            String rest = recordText.substring(p.pos).trim();
            if (rest.startsWith("classifier ")) {
                ShapeYaml labels = new ShapeYaml(rest.substring("classifier ".length()).trim());
                Map<String, Object> head = new LinkedHashMap<>();
                head.put("labels", labels.value());
                head.put("sentence_pairs", labels.text.substring(labels.pos).trim().equals("sentence pairs"));
                out.put("classifier", head);
            } else if (!rest.isEmpty()) {
                out.put("extra", rest);
            }
        } catch (RuntimeException unreadable) {
            out.clear();
            out.put("shape", recordText);
        }
        dropDisabled(out);
        return out;
    }

    /** MoE and LoRA switched off are noise in a shape. */
    private static void dropDisabled(Map<String, Object> m) {
        if (m.get("moe") instanceof Map<?, ?> moe && Long.valueOf(0).equals(moe.get("every"))) {
            m.remove("moe");
        }
        if (m.get("lora") instanceof Map<?, ?> lora && Long.valueOf(0).equals(lora.get("rank"))) {
            m.remove("lora");
        }
    }

    private Object value() {
        skipSpaces();
        if (peek() == '[') {
            return list();
        }
        int start = pos;
        // up to the next separator: a label may hold spaces ("first lady")
        while (pos < text.length() && "[],".indexOf(text.charAt(pos)) < 0) {
            pos++;
        }
        String word = text.substring(start, pos).trim();
        if (pos < text.length() && peek() == '[' && word.matches("[A-Z]\\w*")) {
            return record();
        }
        return scalar(word);
    }

    private Map<String, Object> record() {
        expect('[');
        Map<String, Object> m = new LinkedHashMap<>();
        while (peek() != ']') {
            skipSpaces();
            int start = pos;
            while (text.charAt(pos) != '=') {
                pos++;
            }
            String key = snake(text.substring(start, pos).trim());
            expect('=');
            m.put(key, value());
            skipSpaces();
            if (peek() == ',') {
                pos++;
            }
        }
        expect(']');
        return m;
    }

    private List<Object> list() {
        expect('[');
        List<Object> l = new ArrayList<>();
        skipSpaces();
        while (peek() != ']') {
            l.add(value());
            skipSpaces();
            if (peek() == ',') {
                pos++;
            }
            skipSpaces();
        }
        expect(']');
        return l;
    }

    private static Object scalar(String s) {
        if (s.equals("true") || s.equals("false")) {
            return Boolean.valueOf(s);
        }
        if (s.matches("-?\\d+")) {
            return Long.valueOf(s);
        }
        if (s.matches("-?\\d+\\.\\d*(E-?\\d+)?")) {
            return Double.valueOf(s);
        }
        return s;
    }

    static String snake(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    private char peek() {
        if (pos >= text.length()) {
            throw new IllegalArgumentException("unexpected end of " + text);
        }
        return text.charAt(pos);
    }

    private void expect(char c) {
        if (peek() != c) {
            throw new IllegalArgumentException("expected " + c + " at " + pos + " of " + text);
        }
        pos++;
    }

    private void skipSpaces() {
        while (pos < text.length() && text.charAt(pos) == ' ') {
            pos++;
        }
    }
}
