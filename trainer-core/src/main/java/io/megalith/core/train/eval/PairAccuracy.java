package io.megalith.core.train.eval;

import ai.djl.ndarray.NDManager;
import io.megalith.core.data.Pairs;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.generate.Generator;
import io.megalith.core.model.Gpt;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Greedy exact match on prompt -> answer pairs (the {@code pairs} task's counterpart of {@link AdditionAccuracy}):
 * a pair counts when the greedy continuation of its prompt is exactly the answer, then the end-of-answer token.
 */
public final class PairAccuracy {
    private PairAccuracy() {}

    /** Fraction correct and a few worked examples "prompt|answer (expected ...)". */
    public record Result(double accuracy, int pairs, List<String> examples) {}

    public static Result evaluate(Gpt model, Tokenizer tok, List<String[]> pairs, int[] end, NDManager manager,
            int examples) {
        // the generator takes prompts of one length per call
        Map<Integer, List<String[]>> byLength = new TreeMap<>();
        for (String[] p : pairs) {
            byLength.computeIfAbsent(tok.encode(p[0]).length, k -> new ArrayList<>()).add(p);
        }
        int correct = 0;
        List<String> shown = new ArrayList<>();
        for (List<String[]> group : byLength.values()) {
            long[][] prompts = new long[group.size()][];
            int maxNew = end.length;
            for (int i = 0; i < group.size(); i++) {
                prompts[i] = Arrays.stream(tok.encode(group.get(i)[0])).asLongStream().toArray();
                maxNew = Math.max(maxNew, tok.encode(group.get(i)[1]).length + end.length);
            }
            // never past the context: the answer of a pair always fits (Pairs.example checked it)
            maxNew = Math.min(maxNew, model.config().blockSize() - prompts[0].length);
            long[][] got = new Generator(model, manager).generate(prompts, maxNew, 0, 0, 0, true);
            for (int i = 0; i < group.size(); i++) {
                String answer = Pairs.cut(tok, Arrays.copyOfRange(got[i], prompts[i].length, got[i].length), end);
                boolean ok = answer.equals(group.get(i)[1]);
                correct += ok ? 1 : 0;
                if (shown.size() < examples) {
                    shown.add(show(group.get(i)[0]) + "|" + show(answer) + (ok ? "  ok" : "  (expected "
                            + show(group.get(i)[1]) + ")"));
                }
            }
        }
        return new Result(pairs.isEmpty() ? 0 : (double) correct / pairs.size(), pairs.size(), shown);
    }

    private static String show(String s) {
        return s.replace("\n", "\\n");
    }
}
