package io.megalith.core.model.seq2seq;

import io.megalith.core.tensor.CounterRng;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * The built-in sequence-to-sequence task, which needs no files: reverse a string of {@code minLen}..{@code maxLen}
 * decimal digits ("40213" -> "31204"). Token ids: 0 PAD, 1 BOS, 2 EOS, 3 + d for digit d. A fixed, seeded
 * fraction of all strings is held out: never trained on, used to measure exact match.
 *
 * <p>Sources are padded to {@code maxLen}; the decoder reads BOS + reversed digits and predicts the reversed
 * digits + EOS (later positions are ignored). Sample {@code i} of step {@code s} is a pure function of
 * (seed, s, i).
 */
public final class ReverseDigitsTask implements Seq2SeqTask {
    public static final int VOCAB = 13;
    private final int minLen;
    private final int maxLen;
    private final double heldOutFraction;
    private final long heldOutKey;
    private final long trainKey;
    private final long evalKey;

    public ReverseDigitsTask(int minLen, int maxLen, double heldOutFraction, long seed) {
        if (minLen < 1 || maxLen < minLen) {
            throw new IllegalArgumentException("need 1 <= min_len <= max_len, got " + minLen + ", " + maxLen);
        }
        this.minLen = minLen;
        this.maxLen = maxLen;
        this.heldOutFraction = heldOutFraction;
        this.heldOutKey = CounterRng.key(seed, "reverse.held_out");
        this.trainKey = CounterRng.key(seed, "reverse.train");
        this.evalKey = CounterRng.key(seed, "reverse.eval");
    }

    @Override
    public int vocabSize() {
        return VOCAB;
    }

    @Override
    public int maxSourceLen() {
        return maxLen;
    }

    @Override
    public int maxTargetLen() {
        return maxLen + 1;
    }

    private int[][] heldOutCache = new int[0][];

    @Override
    public int heldOutSize(int wanted) {
        return wanted;
    }

    @Override
    public Batch heldOut(int from, int count) {
        if (heldOutCache.length < from + count) {
            heldOutCache = heldOut(from + count);
        }
        return batch(Arrays.copyOfRange(heldOutCache, from, from + count));
    }

    @Override
    public String text(long[] tokens) {
        return text(digits(tokens));
    }

    @Override
    public String describe() {
        return "reverse " + minLen + "-" + maxLen + " digit strings, " + Math.round(100 * heldOutFraction)
                + "% of strings held out";
    }

    public int maxLen() {
        return maxLen;
    }

    /** Whether the digit string is held out (a pure function of the seed and the string). */
    public boolean isHeldOut(int[] digits) {
        long code = digits.length;
        for (int d : digits) {
            code = code * 10 + d;
        }
        return CounterRng.uniform(heldOutKey, code) < heldOutFraction;
    }

    /** The {@code i}-th string of the stream {@code key} that is (or is not) held out. */
    private int[] draw(long key, long i, boolean heldOut) {
        for (long attempt = 0; ; attempt++) {
            long k = CounterRng.key(key, i, attempt);
            int len = minLen + (int) CounterRng.below(k, 0, maxLen - minLen + 1);
            int[] digits = new int[len];
            for (int j = 0; j < len; j++) {
                digits[j] = (int) CounterRng.below(k, 1 + j, 10);
            }
            if (isHeldOut(digits) == heldOut) {
                return digits;
            }
        }
    }

    /** Samples [first, first + count) of training step {@code step}: never held-out strings. */
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(trainKey, step);
        int[][] strings = new int[count][];
        for (int i = 0; i < count; i++) {
            strings[i] = draw(key, first + i, false);
        }
        return batch(strings);
    }

    /** The first {@code count} distinct strings of the fixed held-out evaluation sequence. */
    public int[][] heldOut(int count) {
        int[][] out = new int[count][];
        Set<String> seen = new HashSet<>();
        for (long i = 0, n = 0; n < count; i++) {
            int[] d = draw(evalKey, i, true);
            if (seen.add(text(d))) {
                out[(int) n++] = d;
            }
            if (i > 1000L * count) {
                throw new IllegalArgumentException("fewer than " + count + " distinct held-out strings");
            }
        }
        return out;
    }

    public Batch batch(int[][] strings) {
        long[][] src = new long[strings.length][];
        long[][] tgt = new long[strings.length][];
        for (int i = 0; i < strings.length; i++) {
            int[] d = strings[i];
            src[i] = new long[d.length];
            tgt[i] = new long[d.length];
            for (int j = 0; j < d.length; j++) {
                src[i][j] = 3 + d[j];
                tgt[i][j] = 3 + d[d.length - 1 - j];
            }
        }
        return Seq2SeqTask.batch(src, tgt, maxLen, maxLen + 1);
    }

    /** Token ids of a decoded output back to digits (any non-digit token makes it wrong: -1). */
    public static int[] digits(long[] tokens) {
        int[] d = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            d[i] = tokens[i] >= 3 && tokens[i] < 13 ? (int) (tokens[i] - 3) : -1;
        }
        return d;
    }

    public static int[] reversed(int[] digits) {
        int[] r = new int[digits.length];
        for (int i = 0; i < digits.length; i++) {
            r[i] = digits[digits.length - 1 - i];
        }
        return r;
    }

    public static String text(int[] digits) {
        StringBuilder sb = new StringBuilder();
        for (int d : digits) {
            sb.append(d < 0 ? '?' : (char) ('0' + d));
        }
        return sb.toString();
    }
}
