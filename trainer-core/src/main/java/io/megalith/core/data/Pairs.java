package io.megalith.core.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.fs.RunDirFs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;

/**
 * Prompt -> answer pairs for GPT fine-tuning (the {@code pairs} task, {@link PairsData}): reading them (JSON Lines
 * or TSV), the built-in {@code upper} pairs, and turning a pair into a training sequence scored only on the answer
 * and the newline that ends it.
 */
public final class Pairs {
    /** The built-in pair sets (no file needed): {@code upper} maps a word of a text to its upper case. */
    public static final List<String> BUILTINS = List.of("upper");

    /** One training sequence: tokens, and the first index whose token is scored (1: every next token). */
    public record Example(int[] tokens, int scoredFrom) {}

    private Pairs() {}

    /** The pairs of a local path or Hadoop URI (see {@link #parse}). */
    public static List<String[]> read(String location, Configuration hadoop) throws IOException {
        return parse(location, new String(RunDirFs.readFully(location, hadoop), StandardCharsets.UTF_8));
    }

    /** JSON Lines with "prompt" and "answer", or prompt&lt;TAB&gt;answer lines (blank lines skipped). */
    public static List<String[]> parse(String source, String text) throws IOException {
        List<String> lines = text.lines().toList();
        ObjectMapper json = new ObjectMapper();
        List<String[]> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            if (line.stripLeading().startsWith("{")) {
                JsonNode n = json.readTree(line);
                if (!n.path("prompt").isTextual() || !n.path("answer").isTextual()) {
                    throw new IOException(source + " line " + (i + 1) + ": needs string fields \"prompt\" and \"answer\"");
                }
                out.add(new String[] {n.get("prompt").asText(), n.get("answer").asText()});
            } else {
                int tab = line.indexOf('\t');
                if (tab < 0) {
                    throw new IOException(source + " line " + (i + 1) + ": expected prompt<TAB>answer or a JSON object");
                }
                out.add(new String[] {line.substring(0, tab), line.substring(tab + 1)});
            }
        }
        return out;
    }

    /**
     * The built-in pairs: the distinct lower-case words (3 to 10 letters) of {@code text}, each "word: " -> "WORD"
     * ("word " if the tokenizer has no ':'), in a seeded random order; words whose characters the tokenizer lacks,
     * or too long for {@code blockSize}, are skipped.
     */
    public static List<String[]> upper(String text, Tokenizer tok, int blockSize, long seed) {
        Set<String> words = new LinkedHashSet<>();
        for (String w : text.split("[^A-Za-z]+")) {
            if (w.length() >= 3 && w.length() <= 10 && w.equals(w.toLowerCase(Locale.ROOT))) {
                words.add(w);
            }
        }
        List<String> sorted = new ArrayList<>(new TreeSet<>(words));
        Collections.shuffle(sorted, new Random(seed));
        String sep = encodable(tok, ": ") ? ": " : " "; // a vocabulary without ':' (a text without one)
        List<String[]> out = new ArrayList<>();
        for (String w : sorted) {
            String[] p = {w + sep, w.toUpperCase(Locale.ROOT)};
            String all = p[0] + p[1] + "\n";
            if (encodable(tok, all) && tok.encode(all).length <= blockSize + 1) {
                out.add(p);
            }
        }
        return out;
    }

    /** Whether {@code tok} encodes {@code text} and decodes it back unchanged. */
    public static boolean encodable(Tokenizer tok, String text) {
        try {
            return tok.decode(tok.encode(text)).equals(text);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** The end-of-answer tokens: a newline when the tokenizer has one, else nothing. */
    public static int[] endOfAnswer(Tokenizer tok) {
        return encodable(tok, "\n") ? tok.encode("\n") : new int[0];
    }

    /** prompt + answer + end-of-answer, scored from the answer on. */
    public static Example example(Tokenizer tok, String[] pair, int[] end, int blockSize) {
        int[] p;
        int[] a;
        try {
            p = tok.encode(pair[0]);
            a = tok.encode(pair[1]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("pair " + Arrays.toString(pair) + ": " + e.getMessage(), e);
        }
        int[] all = new int[p.length + a.length + end.length];
        System.arraycopy(p, 0, all, 0, p.length);
        System.arraycopy(a, 0, all, p.length, a.length);
        System.arraycopy(end, 0, all, p.length + a.length, end.length);
        if (all.length > blockSize + 1 || p.length == 0 || all.length == p.length) {
            throw new IllegalArgumentException("pair " + Arrays.toString(pair) + ": " + all.length + " tokens, the model's "
                    + "block_size is " + blockSize + (p.length == 0 ? " (and the prompt is empty)" : "")
                    + (all.length == p.length ? " (and the answer is empty)" : ""));
        }
        return new Example(all, p.length);
    }

    /**
     * Writes example {@code e} into row {@code row} of ids / targets of width {@code t}: position i predicts token
     * i + 1, scored (else -1) from the answer on; positions after the sequence are padding (id 0, target -1),
     * which a causal model never lets the scored positions see.
     */
    public static void fill(Example e, int row, int t, long[] ids, long[] targets) {
        int[] tok = e.tokens();
        for (int i = 0; i < t; i++) {
            boolean inside = i < tok.length - 1;
            ids[row * t + i] = inside ? tok[i] : 0;
            targets[row * t + i] = inside && i + 1 >= e.scoredFrom() ? tok[i + 1] : -1;
        }
    }

    /** Decoded tokens up to (not including) the first end-of-answer token. */
    public static String cut(Tokenizer tok, long[] ids, int[] end) {
        int n = ids.length;
        if (end.length == 1) {
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] == end[0]) {
                    n = i;
                    break;
                }
            }
        }
        return tok.decode(Arrays.stream(Arrays.copyOf(ids, n)).mapToInt(x -> (int) x).toArray());
    }
}
