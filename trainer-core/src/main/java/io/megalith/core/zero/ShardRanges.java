package io.megalith.core.zero;

import java.util.ArrayList;
import java.util.List;

/**
 * Ranges {from0, to0, from1, to1, ...} of a rank's shard (e.g. where AdamW applies weight decay), built in order from
 * pieces; a piece that starts where the last range ends extends it, so the ranges stay sorted, disjoint and few.
 */
final class ShardRanges {
    private final List<Long> bounds = new ArrayList<>();

    /** Adds [from, to) of the shard; pieces come in increasing order. */
    void add(long from, long to) {
        if (!bounds.isEmpty() && bounds.get(bounds.size() - 1) == from) {
            bounds.set(bounds.size() - 1, to);
        } else {
            bounds.add(from);
            bounds.add(to);
        }
    }

    long[] toArray() {
        return bounds.stream().mapToLong(Long::longValue).toArray();
    }
}
