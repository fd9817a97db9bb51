package io.megalith.core.data.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.regex.Matcher;

/**
 * Learns byte-level BPE merges. Words (regex pieces) are counted once; each merge then only
 * revisits the words that contain the merged pair, and pair counts are updated incrementally. A
 * max-heap with lazy invalidation picks the next pair: an entry whose count is stale is pushed
 * back with the current count when it reaches the top.
 */
final class BpeTrainer {
    /** Result: token strings in id order (byte-level chars), and merges as "left right". */
    record Result(List<String> tokens, List<String> merges) {}

    /** Ties on count go to the pair with the smaller left id, then the smaller right id. */
    private record Candidate(long count, int left, int right) implements Comparable<Candidate> {
        @Override
        public int compareTo(Candidate o) {
            if (count != o.count) {
                return Long.compare(o.count, count);
            }
            return left != o.left ? Integer.compare(left, o.left) : Integer.compare(right, o.right);
        }
    }

    /** Weighted occurrences of one pair and the words that (may) contain it. */
    private static final class PairStats {
        long count;
        final Set<Integer> words = new HashSet<>();
    }

    private final List<int[]> words = new ArrayList<>();
    private final List<Long> freqs = new ArrayList<>();
    private final Map<Long, PairStats> pairs = new HashMap<>();
    private final PriorityQueue<Candidate> heap = new PriorityQueue<>();
    private final List<String> tokens = new ArrayList<>(Arrays.asList(ByteLevel.baseTokens()));
    private final Map<String, Integer> tokenIds = new HashMap<>();
    private final List<String> merges = new ArrayList<>();

    private BpeTrainer() {}

    /** Learns merges until there are {@code targetTokens} tokens or no pair is left. */
    static Result train(String text, int targetTokens) {
        BpeTrainer t = new BpeTrainer();
        t.countWords(text);
        while (t.tokens.size() < targetTokens && t.mergeBest()) {
            // each iteration adds one merge
        }
        return new Result(List.copyOf(t.tokens), List.copyOf(t.merges));
    }

    private void countWords(String text) {
        Map<String, Long> counts = new LinkedHashMap<>();
        Matcher m = ByteLevel.SPLIT.matcher(text);
        while (m.find()) {
            counts.merge(m.group(), 1L, Long::sum);
        }
        for (int i = 0; i < tokens.size(); i++) {
            tokenIds.put(tokens.get(i), i);
        }
        for (Map.Entry<String, Long> e : counts.entrySet()) {
            byte[] bytes = e.getKey().getBytes(StandardCharsets.UTF_8);
            int[] symbols = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                symbols[i] = ByteLevel.byteId(bytes[i]);
            }
            int w = words.size();
            words.add(symbols);
            freqs.add(e.getValue());
            addPairs(w, symbols, e.getValue(), null);
        }
        for (Map.Entry<Long, PairStats> e : pairs.entrySet()) {
            heap.add(new Candidate(e.getValue().count, left(e.getKey()), right(e.getKey())));
        }
    }

    /** Applies the most frequent pair; false when no pair is left. */
    private boolean mergeBest() {
        Candidate best;
        while (true) {
            best = heap.poll();
            if (best == null) {
                return false;
            }
            PairStats stats = pairs.get(key(best.left, best.right));
            if (stats != null && stats.count == best.count) {
                break;
            }
            if (stats != null) { // stale entry: counts only fall, so re-queue at the true count
                heap.add(new Candidate(stats.count, best.left, best.right));
            }
        }
        int a = best.left;
        int b = best.right;
        String merged = tokens.get(a) + tokens.get(b);
        // Like HF's trainer, a merge may rebuild an existing string ("ab"+"c" vs "a"+"bc"):
        // it is still recorded, but reuses the id and so does not grow the vocabulary.
        Integer existing = tokenIds.get(merged);
        int z = existing != null ? existing : tokens.size();
        if (existing == null) {
            tokens.add(merged);
            tokenIds.put(merged, z);
        }
        merges.add(tokens.get(a) + " " + tokens.get(b));

        Set<Long> touched = new HashSet<>();
        for (int w : new ArrayList<>(pairs.get(key(a, b)).words)) {
            int[] old = words.get(w);
            int[] now = replace(old, a, b, z);
            if (now != old) {
                long f = freqs.get(w);
                addPairs(w, old, -f, null);
                addPairs(w, now, f, touched);
                words.set(w, now);
            }
        }
        pairs.remove(key(a, b));
        // Merging never makes two old tokens adjacent, so only pairs with z can have grown;
        // give each an entry at its current count.
        for (long k : touched) {
            PairStats s = pairs.get(k);
            if (s != null && (left(k) == z || right(k) == z)) {
                heap.add(new Candidate(s.count, left(k), right(k)));
            }
        }
        return true;
    }

    /** Adds {@code delta} to every adjacent pair of {@code symbols}; collects them in {@code touched}. */
    private void addPairs(int w, int[] symbols, long delta, Set<Long> touched) {
        for (int i = 0; i + 1 < symbols.length; i++) {
            long k = key(symbols[i], symbols[i + 1]);
            PairStats s = pairs.computeIfAbsent(k, x -> new PairStats());
            s.count += delta;
            if (s.count == 0) {
                pairs.remove(k); // no word holds it any more; a later re-add starts a fresh set
            } else if (delta > 0) {
                s.words.add(w);
            }
            if (touched != null && s.count > 0) {
                touched.add(k);
            }
        }
    }

    /** Non-overlapping left-to-right replacement of (a, b) by z; returns {@code w} itself if absent. */
    private static int[] replace(int[] w, int a, int b, int z) {
        int[] out = new int[w.length];
        int n = 0;
        for (int i = 0; i < w.length; ) {
            if (i + 1 < w.length && w[i] == a && w[i + 1] == b) {
                out[n++] = z;
                i += 2;
            } else {
                out[n++] = w[i++];
            }
        }
        return n == w.length ? w : Arrays.copyOf(out, n);
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private static int left(long k) {
        return (int) (k >>> 32);
    }

    private static int right(long k) {
        return (int) k;
    }
}
