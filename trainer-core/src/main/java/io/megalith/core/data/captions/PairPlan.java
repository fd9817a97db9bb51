package io.megalith.core.data.captions;

import io.megalith.core.tensor.CounterRng;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Which two classes may share a training canvas: every ordered pair of distinct classes except the held-out ones,
 * {@code heldOutPairs} unordered pairs chosen from the seed such that every class keeps a training partner (so
 * every class is seen in training pairs, only never with its held-out partners).
 *
 * @param heldOut the held-out pairs {a, b}, a < b, in the order they were chosen
 * @param training the ordered pairs {first cell, second cell} a training canvas draws from, a-major
 */
record PairPlan(List<int[]> heldOut, List<int[]> training) {
    static PairPlan choose(List<String> names, int heldOutPairs, long seed) {
        int classes = names.size();
        long key = CounterRng.key(seed, "data.captions.held_out_pairs");
        List<int[]> all = new ArrayList<>();
        for (int a = 0; a < classes; a++) {
            for (int b = a + 1; b < classes; b++) {
                all.add(new int[] {a, b});
            }
        }
        // a seeded shuffle: sort by a hash of the pair
        all.sort(Comparator.comparingLong(p -> CounterRng.bits(key, (long) p[0] * classes + p[1])));
        int[] partners = new int[classes];
        Arrays.fill(partners, classes - 1);
        boolean[][] held = new boolean[classes][classes];
        List<int[]> chosen = new ArrayList<>();
        for (int[] p : all) {
            if (chosen.size() == heldOutPairs) {
                break;
            }
            if (partners[p[0]] > 1 && partners[p[1]] > 1) { // both keep a training partner
                partners[p[0]]--;
                partners[p[1]]--;
                held[p[0]][p[1]] = held[p[1]][p[0]] = true;
                chosen.add(p);
            }
        }
        if (chosen.size() < heldOutPairs) {
            throw new IllegalArgumentException("data.captions.held_out_pairs: " + heldOutPairs + " held-out pairs of "
                    + classes + " classes would leave a class without a training pair (this seed's choice allows "
                    + chosen.size() + "); lower data.captions.held_out_pairs");
        }
        List<int[]> training = new ArrayList<>();
        for (int a = 0; a < classes; a++) {
            for (int b = 0; b < classes; b++) {
                if (a != b && !held[a][b]) {
                    training.add(new int[] {a, b});
                }
            }
        }
        return new PairPlan(List.copyOf(chosen), List.copyOf(training));
    }

    boolean isHeldOut(int a, int b) {
        return heldOut.stream().anyMatch(p -> p[0] == Math.min(a, b) && p[1] == Math.max(a, b));
    }
}
