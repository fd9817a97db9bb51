package io.megalith.core.data;

import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.tensor.CounterRng;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;

/**
 * The {@code pairs} task: prompt -> answer sequences scored only on the answer and the newline that ends it
 * (targets -1 elsewhere, see {@link Pairs#fill}). A seeded fraction of the pairs is held out: never trained on,
 * used for the validation (answer) loss and greedy exact match. Every sequence is padded to the longest one, so
 * all micro-batches of every rank have one shape (pipeline stages exchange fixed-size activations).
 *
 * <p>Sample {@code i} of step {@code s} is training pair {@code below(key(seed, s), i, n)}: a pure function of
 * (seed, s, i), so any slice of the global batch (a data-parallel rank's share) is the same whatever the layout.
 */
public final class PairsData implements TrainingData {
    private final Tokenizer tokenizer;
    private final List<Pairs.Example> train = new ArrayList<>();
    private final List<Pairs.Example> heldOut = new ArrayList<>();
    private final List<String[]> heldOutPairs = new ArrayList<>();
    private final int[] end;
    private final int seqLen;
    private final long trainKey;
    private final String source;

    /**
     * @param pairs every pair; {@code heldOutFraction} of them (at least one) are held out
     * @param source where they came from, for {@link #describe()}
     */
    public PairsData(Tokenizer tokenizer, List<String[]> pairs, double heldOutFraction, int blockSize, long seed,
            String source) {
        this(tokenizer, pairs, heldOutFraction, blockSize, seed, source, 1);
    }

    /**
     * As above, the padded length a multiple of {@code lengthMultiple} when the block allows (sequence parallelism
     * splits every sequence into tp equal shards).
     */
    public PairsData(Tokenizer tokenizer, List<String[]> pairs, double heldOutFraction, int blockSize, long seed,
            String source, int lengthMultiple) {
        if (pairs.size() < 2) {
            throw new IllegalArgumentException(source + ": " + pairs.size() + " prompt/answer pairs; need at least 2 "
                    + "(one to train on, one held out)");
        }
        this.tokenizer = tokenizer;
        this.source = source;
        this.end = Pairs.endOfAnswer(tokenizer);
        List<String[]> order = new ArrayList<>(pairs);
        Collections.shuffle(order, new Random(CounterRng.key(seed, "pairs.held_out")));
        int nHeldOut = Math.min(order.size() - 1, Math.max(1, (int) Math.round(order.size() * heldOutFraction)));
        int longest = 0;
        for (int i = 0; i < order.size(); i++) {
            Pairs.Example e = Pairs.example(tokenizer, order.get(i), end, blockSize);
            longest = Math.max(longest, e.tokens().length - 1);
            if (i < nHeldOut) {
                heldOut.add(e);
                heldOutPairs.add(order.get(i));
            } else {
                train.add(e);
            }
        }
        int padded = (longest + lengthMultiple - 1) / lengthMultiple * lengthMultiple;
        this.seqLen = padded <= blockSize ? padded : longest;
        this.trainKey = CounterRng.key(seed, "pairs.train");
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int seqLen() {
        return seqLen;
    }

    @Override
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(trainKey, step);
        List<Pairs.Example> rows = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            rows.add(train.get((int) CounterRng.below(key, first + i, train.size())));
        }
        return batch(rows);
    }

    /** Held-out pairs index x size ... (cycling through them when the batch asks for more). */
    @Override
    public Batch validation(int index, int size) {
        List<Pairs.Example> rows = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            rows.add(heldOut.get((int) (((long) index * size + i) % heldOut.size())));
        }
        return batch(rows);
    }

    private Batch batch(List<Pairs.Example> rows) {
        long[] ids = new long[rows.size() * seqLen];
        long[] targets = new long[ids.length];
        for (int r = 0; r < rows.size(); r++) {
            Pairs.fill(rows.get(r), r, seqLen, ids, targets);
        }
        return new Batch(ids, targets, rows.size(), seqLen);
    }

    /** The held-out pairs (prompt, answer), for exact match. */
    public List<String[]> heldOutPairs() {
        return Collections.unmodifiableList(heldOutPairs);
    }

    /** The tokens that end an answer (a newline, or none). */
    public int[] endOfAnswer() {
        return end.clone();
    }

    public int trainPairs() {
        return train.size();
    }

    @Override
    public String describe() {
        String[] p = heldOutPairs.get(0);
        return String.format("pairs from %s: %d train, %d held out (loss on answers only), e.g. %s -> %s", source,
                train.size(), heldOut.size(), p[0].replace("\n", "\\n"), p[1].replace("\n", "\\n"));
    }

    /**
     * Where a pairs task's pairs come from and how they are cut: the {@code data} keys of a run's configuration
     * (config builds it: data does not depend on config). {@code multiple}: sequences padded to a multiple of it
     * (equal sequence-parallel shards per rank); {@code initFrom}: the base run named in an error message.
     */
    public record Source(String builtin, String path, String tokenizer, int bpeVocabSize, double heldOutFraction,
            int blockSize, long seed, int multiple, String initFrom) {}

    /**
     * The pairs task of {@code cfg} in tokenizer {@code tok} (null: one fitted on the pairs' text), the built-in pairs
     * taking their words from data.path or else {@code baseWords} (the base run's data.path); {@code fromBase}:
     * the tokenizer is the base's (for the error message). Also what {@code megalith generate} evaluates.
     */
    public static PairsData of(Source d, Tokenizer tok, String baseWords, boolean fromBase,
            Configuration hadoop) throws IOException {
        List<String[]> pairs;
        String source;
        if (d.builtin() != null) {
            String words = d.path() != null ? d.path() : baseWords;
            if (words == null) {
                throw new IllegalArgumentException("data.builtin " + d.builtin() + " takes its words from data.path or "
                        + "the text of the base run: set data.path, or checkpoint.init_from to a `megalith train` "
                        + "run.dir of data.task text (got '" + d.initFrom() + "')");
            }
            String text = new String(RunDirFs.readFully(words, hadoop), StandardCharsets.UTF_8);
            if (tok == null) { // no base: a tokenizer of the text, which spells the pairs
                tok = CharTokenizer.fit(text + ": \n" + text.toUpperCase(Locale.ROOT));
            }
            pairs = Pairs.upper(text, tok, d.blockSize(), d.seed());
            source = "built-in " + d.builtin() + " (words of " + words + ")";
        } else {
            pairs = Pairs.read(d.path(), hadoop);
            source = d.path();
        }
        if (tok == null) { // no base: a tokenizer of the pairs' own text
            StringBuilder all = new StringBuilder("\n");
            pairs.forEach(p -> all.append(p[0]).append(p[1]).append('\n'));
            tok = "bpe".equals(d.tokenizer()) ? BpeTokenizer.train(all.toString(), d.bpeVocabSize())
                    : CharTokenizer.fit(all.toString());
        }
        try {
            return new PairsData(tok, pairs, d.heldOutFraction(), d.blockSize(), d.seed(), source, d.multiple());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("data.task pairs from " + source + ": " + e.getMessage()
                    + (fromBase ? " (pairs must be written in the base run's vocabulary and fit model.block_size)"
                    : ""), e);
        }
    }
}
