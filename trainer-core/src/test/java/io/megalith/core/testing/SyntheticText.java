package io.megalith.core.testing;

import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.tensor.Torch;
import java.util.Random;

/** The small made-up corpora the equivalence tests train on, and a rank thread's character-level data of one. */
public final class SyntheticText {
    private SyntheticText() {}

    /** Random words of {@code vocabulary} (a sentence ends about every sixth word) up to {@code length} characters. */
    public static String words(long seed, int length, String... vocabulary) {
        StringBuilder sb = new StringBuilder();
        Random r = new Random(seed);
        while (sb.length() < length) {
            sb.append(vocabulary[r.nextInt(vocabulary.length)]).append(r.nextInt(6) == 0 ? ".\n" : " ");
        }
        return sb.toString();
    }

    /**
     * Readies the calling thread as a rank of one compute thread (libtorch loaded, its thread state entered, one
     * OpenMP thread) and returns {@code text} as character-level training data for {@code cfg}'s model.
     */
    public static TextData rankData(String text, MegalithConfig cfg) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        CharTokenizer tok = CharTokenizer.fit(text);
        return new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
    }
}
