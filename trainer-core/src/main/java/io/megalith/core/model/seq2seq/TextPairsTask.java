package io.megalith.core.model.seq2seq;

import io.megalith.core.tensor.CounterRng;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Text pairs from a file, one per line: {@code source<TAB>target} (lines without a tab and blank lines are
 * skipped), character-level: 0 PAD, 1 BOS, 2 EOS, 3 UNK, then 4 + the rank of each distinct character of the
 * file. A seeded fraction of the pairs is held out for exact match; training samples the rest, sample i of
 * step s a pure function of (seed, s, i). Sources longer than {@code maxSourceLen} and targets longer than
 * {@code maxTargetLen} - 1 are truncated (0: the longest in the file).
 */
public final class TextPairsTask implements Seq2SeqTask {
    public static final long UNK = 3;
    private final Path path;
    private final Map<Character, Integer> ids = new LinkedHashMap<>();
    private final List<Character> chars = new ArrayList<>();
    private final List<long[][]> train = new ArrayList<>();
    private final List<long[][]> heldOut = new ArrayList<>();
    private final int maxSource;
    private final int maxTarget;
    private final long trainKey;
    private final double heldOutFraction;

    public static TextPairsTask fromFile(Path path, double heldOutFraction, long seed, int maxSourceLen, int maxTargetLen)
            throws IOException {
        return new TextPairsTask(path, Files.readAllLines(path, StandardCharsets.UTF_8), heldOutFraction, seed,
                maxSourceLen, maxTargetLen);
    }

    public TextPairsTask(Path path, List<String> lines, double heldOutFraction, long seed, int maxSourceLen,
            int maxTargetLen) {
        this.path = path;
        this.heldOutFraction = heldOutFraction;
        List<String[]> pairs = new ArrayList<>();
        TreeSet<Character> alphabet = new TreeSet<>();
        for (String line : lines) {
            int tab = line.indexOf('\t');
            if (line.isBlank() || tab < 0) {
                continue;
            }
            String[] p = {line.substring(0, tab), line.substring(tab + 1)};
            pairs.add(p);
            for (String s : p) {
                for (char c : s.toCharArray()) {
                    alphabet.add(c);
                }
            }
        }
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException(path + ": no source<TAB>target lines");
        }
        for (char c : alphabet) {
            ids.put(c, 4 + chars.size());
            chars.add(c);
        }
        int longestSrc = pairs.stream().mapToInt(p -> p[0].length()).max().orElse(1);
        int longestTgt = pairs.stream().mapToInt(p -> p[1].length()).max().orElse(1);
        this.maxSource = Math.max(1, maxSourceLen > 0 ? maxSourceLen : longestSrc);
        this.maxTarget = maxTargetLen > 0 ? maxTargetLen : longestTgt + 1;
        long heldKey = CounterRng.key(seed, "pairs.held_out");
        for (int i = 0; i < pairs.size(); i++) {
            long[][] e = {encode(pairs.get(i)[0], maxSource), encode(pairs.get(i)[1], maxTarget - 1)};
            (CounterRng.uniform(heldKey, i) < heldOutFraction ? heldOut : train).add(e);
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException(path + ": every pair is held out");
        }
        this.trainKey = CounterRng.key(seed, "pairs.train");
    }

    private long[] encode(String s, int max) {
        int n = Math.min(s.length(), max);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = ids.getOrDefault(s.charAt(i), (int) UNK);
        }
        return out;
    }

    @Override
    public int vocabSize() {
        return 4 + chars.size();
    }

    @Override
    public int maxSourceLen() {
        return maxSource;
    }

    @Override
    public int maxTargetLen() {
        return maxTarget;
    }

    @Override
    public Batch train(long step, int first, int count) {
        long key = CounterRng.key(trainKey, step);
        long[][] src = new long[count][];
        long[][] tgt = new long[count][];
        for (int i = 0; i < count; i++) {
            long[][] e = train.get((int) CounterRng.below(key, first + i, train.size()));
            src[i] = e[0];
            tgt[i] = e[1];
        }
        return Seq2SeqTask.batch(src, tgt, maxSource, maxTarget);
    }

    @Override
    public int heldOutSize(int wanted) {
        return Math.min(wanted, heldOut.size());
    }

    @Override
    public Batch heldOut(int from, int count) {
        long[][] src = new long[count][];
        long[][] tgt = new long[count][];
        for (int i = 0; i < count; i++) {
            src[i] = heldOut.get(from + i)[0];
            tgt[i] = heldOut.get(from + i)[1];
        }
        return Seq2SeqTask.batch(src, tgt, maxSource, maxTarget);
    }

    @Override
    public String text(long[] tokens) {
        StringBuilder sb = new StringBuilder();
        for (long t : tokens) {
            sb.append(t >= 4 && t < 4 + chars.size() ? chars.get((int) t - 4) : '?');
        }
        return sb.toString();
    }

    /** The file's distinct characters in id order (id 4 + index), for a vocabulary stored without the file. */
    public String alphabet() {
        StringBuilder sb = new StringBuilder();
        chars.forEach(sb::append);
        return sb.toString();
    }

    @Override
    public String describe() {
        return path + ": " + (train.size() + heldOut.size()) + " pairs (" + heldOut.size() + " held out, "
                + Math.round(100 * heldOutFraction) + "%), " + chars.size() + " characters, source <= " + maxSource
                + ", target <= " + (maxTarget - 1);
    }
}
