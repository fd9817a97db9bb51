package io.megalith.core.generate;

import io.megalith.core.quantize.GptDecoder;
import io.megalith.core.tensor.CounterRng;

/**
 * {@link Generator}'s sampling on the Java batch-1 decoder ({@link GptDecoder}, e.g. from int8 weights): each row in
 * turn, its prompt fed once and then one token per step through the decoder's cache; past block_size, the last
 * block_size tokens are fed again from an empty cache, as Generator's uncached crop. Draws are keyed by (seed, row,
 * position) as Generator's, so equal logits give equal tokens.
 */
public final class DecoderGenerator {
    private DecoderGenerator() {}

    /** Continues each row of {@code prompts} (all of one length) by {@code maxNew} tokens. */
    public static long[][] generate(GptDecoder decoder, long[][] prompts, int maxNew, double temperature, int topK,
            long seed) {
        int block = decoder.config().blockSize();
        int vocab = decoder.config().vocabSize();
        long[][] out = new long[prompts.length][];
        for (int r = 0; r < prompts.length; r++) {
            int promptLen = prompts[r].length;
            if (promptLen != prompts[0].length) {
                throw new IllegalArgumentException("prompts must have equal lengths");
            }
            long[] row = new long[promptLen + maxNew];
            System.arraycopy(prompts[r], 0, row, 0, promptLen);
            decoder.reset();
            float[] logits = null;
            for (int len = promptLen; len < promptLen + maxNew; len++) {
                if (len <= block && decoder.length() == 0) {
                    for (int p = 0; p < len; p++) {
                        logits = decoder.next((int) row[p]); // the prompt, once
                    }
                } else if (len <= block) {
                    logits = decoder.next((int) row[len - 1]);
                } else {
                    decoder.reset(); // the window slid: the last block_size tokens from an empty cache
                    for (int p = len - block; p < len; p++) {
                        logits = decoder.next((int) row[p]);
                    }
                }
                row[len] = Generator.sample(logits, 0, vocab, temperature, topK, CounterRng.key(seed, r, len));
            }
            out[r] = row;
        }
        return out;
    }
}
