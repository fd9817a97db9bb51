package io.megalith.core.data;

import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.tensor.CounterRng;

/**
 * The built-in n-digit addition task: "ab+cd=" -> "efg" (operands zero-padded to n digits, the sum
 * to n+1), e.g. "07+85=092". Only the answer digits are scored. A fixed, seeded fraction of all
 * pairs is held out: never trained on, used to measure exact-match accuracy.
 */
public final class AdditionData implements TrainingData {
    public static final String ALPHABET = "0123456789+=";
    private final CharTokenizer tokenizer = CharTokenizer.ofAlphabet(ALPHABET);
    private final int digits;
    private final long operands;
    private final double heldOutFraction;
    private final long heldOutKey;
    private final long trainKey;
    private final long valKey;

    public AdditionData(int digits, double heldOutFraction, long seed) {
        this.digits = digits;
        this.operands = (long) Math.pow(10, digits);
        this.heldOutFraction = heldOutFraction;
        this.heldOutKey = CounterRng.key(seed, "addition.held_out");
        this.trainKey = CounterRng.key(seed, "addition.train");
        this.valKey = CounterRng.key(seed, "addition.val");
    }

    public int digits() {
        return digits;
    }

    /** Prompt length "a+b=" in tokens. */
    public int promptLength() {
        return 2 * digits + 2;
    }

    /** Answer length in tokens. */
    public int answerLength() {
        return digits + 1;
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int seqLen() {
        return promptLength() + answerLength() - 1;
    }

    public boolean isHeldOut(long a, long b) {
        return CounterRng.uniform(heldOutKey, a * operands + b) < heldOutFraction;
    }

    @Override
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(trainKey, step);
        return batch(key, first, count, false);
    }

    @Override
    public Batch validation(int index, int size) {
        return batch(CounterRng.key(valKey, index), 0, size, true);
    }

    /** The {@code i}-th held-out pair of a fixed sequence: (a, b). */
    public long[] heldOutPair(int i) {
        return pair(CounterRng.key(valKey, "exact_match"), i, true);
    }

    private Batch batch(long key, int first, int count, boolean heldOut) {
        int t = seqLen();
        long[] x = new long[count * t];
        long[] y = new long[count * t];
        for (int i = 0; i < count; i++) {
            long[] ab = pair(key, first + i, heldOut);
            int[] seq = tokenizer.encode(format(ab[0], ab[1]) + answer(ab[0], ab[1]));
            for (int j = 0; j < t; j++) {
                x[i * t + j] = seq[j];
                // position j predicts token j+1; only answer tokens (index >= promptLength) are scored
                y[i * t + j] = j + 1 >= promptLength() ? seq[j + 1] : -1;
            }
        }
        return new Batch(x, y, count, t);
    }

    /** Draws pair {@code i} of stream {@code key} from the training or the held-out set by rejection. */
    private long[] pair(long key, long i, boolean heldOut) {
        long sampleKey = CounterRng.key(key, i);
        for (long attempt = 0; ; attempt++) {
            long v = CounterRng.below(sampleKey, attempt, operands * operands);
            long a = v / operands;
            long b = v % operands;
            if (isHeldOut(a, b) == heldOut) {
                return new long[] {a, b};
            }
        }
    }

    /** "a+b=" zero-padded. */
    public String format(long a, long b) {
        return pad(a, digits) + "+" + pad(b, digits) + "=";
    }

    public String answer(long a, long b) {
        return pad(a + b, digits + 1);
    }

    private static String pad(long v, int width) {
        String s = Long.toString(v);
        return "0".repeat(Math.max(0, width - s.length())) + s;
    }

    @Override
    public String describe() {
        return String.format("addition: %d-digit operands, %.0f%% of %,d pairs held out", digits,
                heldOutFraction * 100, operands * operands);
    }
}
