package io.megalith.core.data.captions;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.data.captions.Composition.Relation;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * One line of a captions JSON Lines file: {@code {"image": "relative/path.png", "caption": "...", "composition":
 * {"first": "sneaker", "second": "bag", "relation": "left_of"}}}, the composition optional (a single item: relation
 * "single", no second). {@code where} is "file:line" for messages.
 */
record CaptionLine(String where, String image, String caption, String first, String second, Relation relation) {
    static final ObjectMapper JSON = JsonMapper.builder().build();

    boolean hasComposition() {
        return relation != null;
    }

    /** The lines of {@code file} (blank lines skipped), each checked for its fields. */
    static List<CaptionLine> read(FileSystem fs, Path file) throws IOException {
        List<CaptionLine> lines = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(fs.open(file), StandardCharsets.UTF_8))) {
            int number = 0;
            for (String text = in.readLine(); text != null; text = in.readLine()) {
                number++;
                if (!text.isBlank()) {
                    lines.add(parse(file + ":" + number, text));
                }
            }
        }
        return lines;
    }

    static CaptionLine parse(String where, String text) throws IOException {
        JsonNode n;
        try {
            n = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IOException(where + ": not a JSON object (" + e.getOriginalMessage() + "); each line is "
                    + "{\"image\": \"relative/path.png\", \"caption\": \"...\"}");
        }
        if (n == null || !n.isObject()) {
            throw new IOException(where + ": not a JSON object; each line is {\"image\": \"relative/path.png\", "
                    + "\"caption\": \"...\"}");
        }
        String image = text(n, "image", where);
        String caption = text(n, "caption", where);
        JsonNode c = n.get("composition");
        if (c == null || c.isNull()) {
            return new CaptionLine(where, image, caption, null, null, null);
        }
        String problem = where + ": \"composition\" must be {\"first\": class, \"second\": class, \"relation\": "
                + "single | left_of | right_of | above | below} (no second for single)";
        if (!c.isObject()) {
            throw new IOException(problem);
        }
        Relation relation = c.path("relation").isTextual() ? CaptionText.relation(c.get("relation").asText()) : null;
        String first = c.path("first").isTextual() ? c.get("first").asText() : null;
        String second = c.path("second").isTextual() ? c.get("second").asText() : null;
        if (relation == null || first == null || (relation == Relation.SINGLE) != (second == null)) {
            throw new IOException(problem);
        }
        return new CaptionLine(where, image, caption, first, second, relation);
    }

    private static String text(JsonNode n, String field, String where) throws IOException {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw new IOException(where + ": needs a non-empty \"" + field + "\" string");
        }
        return v.asText();
    }

    /** The line a composition is written as ({@link #read} reads it back). */
    static String write(String image, String caption, Composition c, List<String> names) throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("image", image);
        n.put("caption", caption);
        if (c != null) {
            ObjectNode o = n.putObject("composition");
            o.put("first", names.get(c.first()));
            if (c.isPair()) {
                o.put("second", names.get(c.second()));
            }
            o.put("relation", CaptionText.key(c.relation()));
        }
        return JSON.writeValueAsString(n);
    }
}
