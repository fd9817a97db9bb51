package io.megalith.core.train.eval;

import ai.djl.ndarray.NDManager;
import io.megalith.core.data.AdditionData;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.generate.Generator;
import io.megalith.core.model.Gpt;
import java.util.ArrayList;
import java.util.List;

/** Exact-match accuracy on held-out addition problems, by greedy decoding with the KV cache. */
public final class AdditionAccuracy {
    private static final int BATCH = 250;

    private AdditionAccuracy() {}

    /** Result: fraction correct and a few worked examples "a+b=answer (expected ...)". */
    public record Result(double accuracy, int pairs, List<String> examples) {}

    public static Result evaluate(Gpt model, AdditionData data, NDManager manager, int pairs, int examples) {
        Tokenizer tok = data.tokenizer();
        Generator gen = new Generator(model, manager);
        int correct = 0;
        List<String> shown = new ArrayList<>();
        for (int from = 0; from < pairs; from += BATCH) {
            int n = Math.min(BATCH, pairs - from);
            long[][] prompts = new long[n][];
            String[] expected = new String[n];
            String[] questions = new String[n];
            for (int i = 0; i < n; i++) {
                long[] ab = data.heldOutPair(from + i);
                questions[i] = data.format(ab[0], ab[1]);
                expected[i] = data.answer(ab[0], ab[1]);
                prompts[i] = toLongs(tok.encode(questions[i]));
            }
            long[][] out = gen.generate(prompts, data.answerLength(), 0, 0, 0, true);
            for (int i = 0; i < n; i++) {
                int[] answerIds = new int[data.answerLength()];
                for (int j = 0; j < answerIds.length; j++) {
                    answerIds[j] = (int) out[i][data.promptLength() + j];
                }
                String got = tok.decode(answerIds);
                boolean ok = got.equals(expected[i]);
                if (ok) {
                    correct++;
                }
                if (shown.size() < examples) {
                    shown.add(questions[i] + got + (ok ? "  ok" : "  (expected " + expected[i] + ")"));
                }
            }
        }
        return new Result((double) correct / pairs, pairs, shown);
    }

    public static long[] toLongs(int[] ids) {
        long[] out = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = ids[i];
        }
        return out;
    }
}
