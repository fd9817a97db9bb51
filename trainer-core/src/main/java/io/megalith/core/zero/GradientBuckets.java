package io.megalith.core.zero;

import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.segment.Segment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Groups parameters into gradient buckets in the order backward completes them, so each bucket can be
 * reduced while backward still runs on the segments before it. A parameter's gradient is complete
 * after the backward of the first segment (in forward order) that reads it: the token embedding, read
 * by the embedding and by the tied head, is complete only at the very end.
 */
public final class GradientBuckets {
    /** Elements [from, to) of the flat buffer, complete after segment {@code readySegment}'s backward. */
    public record Bucket(int index, long from, long to, int readySegment) {
        public long size() {
            return to - from;
        }
    }

    private GradientBuckets() {}

    /** Segment after whose backward each parameter's gradient is complete. */
    public static Map<Parameter, Integer> readySegments(List<Segment> segments) {
        Map<Parameter, Integer> ready = new IdentityHashMap<>();
        for (int i = segments.size() - 1; i >= 0; i--) {
            for (Parameter p : segments.get(i).parameters()) {
                ready.put(p, i); // the lowest index wins: iterate from the end
            }
        }
        return ready;
    }

    /** The parameters in the order their gradients complete during backward (layout for a {@link ParameterStore}). */
    public static List<Parameter> backwardOrder(List<Segment> segments) {
        Map<Parameter, Integer> ready = readySegments(segments);
        Set<Parameter> order = new LinkedHashSet<>();
        for (int i = segments.size() - 1; i >= 0; i--) {
            for (Parameter p : segments.get(i).parameters()) {
                if (ready.get(p) == i) {
                    order.add(p);
                }
            }
        }
        return new ArrayList<>(order);
    }

    /**
     * Cuts {@code store}'s trainable prefix into buckets of at least {@code bucketElements} elements (frozen
     * parameters, laid out after it, are in no bucket: never communicated). A store laid out in backward order
     * gets buckets that complete one after the other; any other layout gets one bucket, complete at the end of
     * backward. Nothing trainable: no buckets.
     */
    public static List<Bucket> plan(List<Segment> segments, ParameterStore store, long bucketElements) {
        return plan(segments, store.trainableParameters(), bucketElements, false);
    }

    /**
     * Cuts parameters laid out in this order (their offsets assigned, contiguous from 0) into buckets of at
     * least {@code bucketElements} elements; with {@code splitAtSegments} also wherever the ready segment
     * changes (one bucket per layer, as ZeRO-3 gathers layer by layer).
     */
    public static List<Bucket> plan(List<Segment> segments, List<Parameter> layout, long bucketElements,
            boolean splitAtSegments) {
        return plan(segments, layout, bucketElements, splitAtSegments, null);
    }

    /**
     * As above; with {@code kind} also wherever it changes between neighbouring parameters, so that every bucket
     * holds one kind (expert parallelism: expert parameters are reduced over another group than the rest).
     */
    public static List<Bucket> plan(List<Segment> segments, List<Parameter> layout, long bucketElements,
            boolean splitAtSegments, Predicate<Parameter> kind) {
        Map<Parameter, Integer> ready = readySegments(segments);
        long total = 0;
        for (Parameter p : layout) {
            total += p.numel();
        }
        List<Bucket> out = new ArrayList<>();
        long from = 0;
        int lastReady = Integer.MAX_VALUE;
        for (int i = 0; i < layout.size(); i++) {
            Parameter p = layout.get(i);
            int r = ready.getOrDefault(p, 0);
            if (r > lastReady) {
                return List.of(new Bucket(0, 0, total, 0));
            }
            lastReady = r;
            long end = p.offset() + p.numel();
            boolean segmentEnds = i + 1 == layout.size() || ready.getOrDefault(layout.get(i + 1), 0) != r;
            boolean kindEnds = kind != null && (i + 1 == layout.size() || kind.test(p) != kind.test(layout.get(i + 1)));
            if (end - from >= bucketElements || (splitAtSegments && segmentEnds) || kindEnds) {
                out.add(new Bucket(out.size(), from, end, r));
                from = end;
            }
        }
        if (from < total) {
            out.add(new Bucket(out.size(), from, total, lastReady));
        }
        return out;
    }
}
