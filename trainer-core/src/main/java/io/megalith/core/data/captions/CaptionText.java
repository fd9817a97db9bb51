package io.megalith.core.data.captions;

import io.megalith.core.data.captions.Composition.Relation;
import java.util.List;
import java.util.Locale;

/**
 * The words of generated captions: class names as captions spell them, the templates of single items, and the
 * phrases of pairs ("a sneaker to the left of a bag"). Every caption of a composition says exactly what it holds.
 */
final class CaptionText {
    /** Single-item templates; {@code %s} is the item with its article. */
    static final List<String> SINGLE_TEMPLATES = List.of("a photo of %s", "%s", "a picture of %s");

    private CaptionText() {}

    /** A class name as captions spell it: lower case, the part before "/" ("T-shirt/top" -> "t-shirt"). */
    static String spell(String className) {
        int slash = className.indexOf('/');
        return (slash < 0 ? className : className.substring(0, slash)).strip().toLowerCase(Locale.ROOT);
    }

    /** "a sandal", "an ankle boot": "an" before a vowel letter (no exceptions are needed for the class names here). */
    static String withArticle(String item) {
        return ("aeiou".indexOf(item.isEmpty() ? 'x' : item.charAt(0)) >= 0 ? "an " : "a ") + item;
    }

    /** The caption of a single item with template {@code template} (an index of {@link #SINGLE_TEMPLATES}). */
    static String single(List<String> names, int item, int template) {
        return String.format(SINGLE_TEMPLATES.get(template), withArticle(names.get(item)));
    }

    /** The caption of a pair: "a sneaker to the left of a bag" (first, relation, second). */
    static String pair(List<String> names, Composition c) {
        return withArticle(names.get(c.first())) + " " + phrase(c.relation()) + " " + withArticle(names.get(c.second()));
    }

    static String phrase(Relation r) {
        return switch (r) {
            case LEFT_OF -> "to the left of";
            case RIGHT_OF -> "to the right of";
            case ABOVE -> "above";
            case BELOW -> "below";
            case SINGLE -> throw new IllegalArgumentException("a single item has no relation phrase");
        };
    }

    /** The JSON Lines spelling of a relation: "single", "left_of", "right_of", "above", "below". */
    static String key(Relation r) {
        return r.name().toLowerCase(Locale.ROOT);
    }

    /** The relation a JSON Lines key names, or null for none of them. */
    static Relation relation(String key) {
        for (Relation r : Relation.values()) {
            if (key(r).equals(key)) {
                return r;
            }
        }
        return null;
    }
}
