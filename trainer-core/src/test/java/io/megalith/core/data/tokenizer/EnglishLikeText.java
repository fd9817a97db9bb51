package io.megalith.core.data.tokenizer;

import java.util.Random;

/** Deterministic pseudo-English (Zipf-ish word choice, sentences, punctuation) for tokenizer tests. */
final class EnglishLikeText {
    private static final String[] WORDS = {
        "the", "the", "the", "and", "and", "of", "to", "a", "in", "that", "is", "was", "he", "for",
        "it", "with", "as", "his", "on", "be", "at", "by", "I", "this", "had", "not", "are", "but",
        "from", "or", "have", "an", "they", "which", "one", "you", "were", "her", "all", "she",
        "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more", "no",
        "king", "queen", "castle", "river", "morning", "evening", "remember", "nothing", "together",
        "something", "question", "answer", "thinking", "walking", "beautiful", "wonderful"
    };
    private static final String[] ENDS = {".", ".", ".", "!", "?", ";", ","};

    private EnglishLikeText() {}

    static String generate(int approxChars, long seed) {
        Random rnd = new Random(seed);
        StringBuilder sb = new StringBuilder(approxChars + 100);
        while (sb.length() < approxChars) {
            int n = 4 + rnd.nextInt(10);
            for (int i = 0; i < n; i++) {
                // Squaring the uniform skews choice towards the start of the list, like real text.
                double u = rnd.nextDouble();
                String w = WORDS[(int) (u * u * WORDS.length)];
                if (i == 0) {
                    w = Character.toUpperCase(w.charAt(0)) + w.substring(1);
                }
                sb.append(w).append(i == n - 1 ? ENDS[rnd.nextInt(ENDS.length)] : " ");
            }
            sb.append(rnd.nextInt(6) == 0 ? "\n\n" : " ");
        }
        return sb.toString();
    }
}
