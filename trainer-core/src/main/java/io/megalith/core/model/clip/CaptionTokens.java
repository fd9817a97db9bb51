package io.megalith.core.model.clip;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Captions as the text tower reads them: a tokenizer's ids, cut or right-padded to {@code textLen} with the pad id,
 * one id past the tokenizer's vocabulary (so the model's vocabulary is the tokenizer's plus one).
 */
public record CaptionTokens(Tokenizer tokenizer, int textLen) {
    /** Training rows whose captions a run's tokenizer is fitted to. */
    public static final int TOKENIZER_ROWS = 2048;

    /** The model's vocabulary: the tokenizer's ids and the pad id. */
    public int vocabSize() {
        return tokenizer.vocabSize() + 1;
    }

    public int padId() {
        return tokenizer.vocabSize();
    }

    /**
     * A tokenizer ({@code kind} char or bpe) fitted to {@code texts}: char, their distinct characters; bpe, a
     * byte-level BPE of {@code bpeVocabSize} ids trained on them (each on a line).
     */
    public static Tokenizer fit(String kind, List<String> texts, int bpeVocabSize) {
        String all = String.join("\n", texts);
        return switch (kind) {
            case "char" -> CharTokenizer.fit(all);
            case "bpe" -> BpeTokenizer.train(all, bpeVocabSize);
            default -> throw new IllegalArgumentException("data.tokenizer: char or bpe (got " + kind + ")");
        };
    }

    /**
     * The tokenizer data.tokenizer names, fitted to the captions of the first {@value #TOKENIZER_ROWS} training rows
     * (step 0) and {@code extra} texts: the same on every rank and on resume (rows are pure functions of the step).
     */
    public static Tokenizer fit(MegalithConfig.Data d, CaptionData data, List<String> extra) {
        int rows = (int) Math.min(TOKENIZER_ROWS, Math.max(1, data.trainSize()));
        List<String> texts = new ArrayList<>(data.train(0, 0, rows).captions());
        texts.addAll(extra);
        return fit(d.tokenizer(), texts, d.bpeVocabSize());
    }

    /** Ids [texts * textLen] of {@code texts}, row-major. A character the tokenizer lacks fails, naming it. */
    public long[] encode(List<String> texts) {
        long[] ids = new long[texts.size() * textLen];
        Arrays.fill(ids, padId());
        for (int i = 0; i < texts.size(); i++) {
            int[] row;
            try {
                row = tokenizer.encode(texts.get(i));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("caption \"" + texts.get(i) + "\": " + e.getMessage()
                        + " (the tokenizer was fitted to the training captions)", e);
            }
            for (int j = 0; j < Math.min(textLen, row.length); j++) {
                ids[i * textLen + j] = row[j];
            }
        }
        return ids;
    }
}
