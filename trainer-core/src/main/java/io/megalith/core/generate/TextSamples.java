package io.megalith.core.generate;

import ai.djl.ndarray.NDManager;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.quantize.GptDecoder;
import java.util.ArrayList;
import java.util.List;

/**
 * A GPT's text continuations of generate.prompt, decoded: what a run prints at its end and what {@code megalith
 * generate} prints for a prompt (one path for both).
 */
public final class TextSamples {
    private TextSamples() {}

    /**
     * {@code g.samples()} continuations of {@code g.prompt()} by {@link Generator} (with its KV cache). An empty prompt
     * starts from a newline, as nanoGPT's sample.py, or from token 0 when the vocabulary has no newline (a char
     * tokenizer fitted on a one-line text).
     */
    public static List<String> of(Gpt model, Tokenizer tok, NDManager manager, MegalithConfig.Generate g, long seed) {
        long[][] out = new Generator(model, manager).generate(prompts(tok, g), g.maxNewTokens(), g.temperature(),
                g.topK(), seed, true);
        return decoded(tok, out);
    }

    /** The same continuations by the Java decoder ({@link DecoderGenerator}: int8 or fp32 weights, batch 1). */
    public static List<String> of(GptDecoder decoder, Tokenizer tok, MegalithConfig.Generate g, long seed) {
        return decoded(tok, DecoderGenerator.generate(decoder, prompts(tok, g), g.maxNewTokens(), g.temperature(),
                g.topK(), seed));
    }

    private static long[][] prompts(Tokenizer tok, MegalithConfig.Generate g) {
        int[] ids = g.prompt().isEmpty() ? startOfText(tok) : tok.encode(g.prompt());
        long[][] prompts = new long[g.samples()][];
        for (int i = 0; i < prompts.length; i++) {
            prompts[i] = new long[ids.length];
            for (int j = 0; j < ids.length; j++) {
                prompts[i][j] = ids[j];
            }
        }
        return prompts;
    }

    private static List<String> decoded(Tokenizer tok, long[][] out) {
        List<String> texts = new ArrayList<>();
        for (long[] row : out) {
            int[] all = new int[row.length];
            for (int i = 0; i < row.length; i++) {
                all[i] = (int) row[i];
            }
            texts.add(tok.decode(all));
        }
        return texts;
    }

    private static int[] startOfText(Tokenizer tok) {
        try {
            int[] ids = tok.encode("\n");
            if (ids.length > 0) {
                return ids;
            }
        } catch (IllegalArgumentException notInVocabulary) {
            // fall through
        }
        return new int[] {0};
    }
}
