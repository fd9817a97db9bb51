package io.megalith.parallel.collective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * How a buffer of {@code count} elements is cut for the ring: into {@code parts} segments by the rule
 * of {@code Communicator.partStart} (segment s is [count*s/parts, count*(s+1)/parts), possibly empty),
 * and each segment into chunks of at most {@code chunkElems} elements, the unit that is pipelined.
 * Every rank computes the same cuts from the same count, so a chunk is named by (step, segment, chunk)
 * without sending sizes.
 */
final class Segments {
    final long count;
    final int parts;
    final int elemBytes;
    final int chunkElems;
    /** Chunks of the largest segment: the stride of message tags per ring step. */
    final int maxChunks;

    Segments(long count, int parts, int elemBytes, int chunkBytes) {
        this.count = count;
        this.parts = parts;
        this.elemBytes = elemBytes;
        this.chunkElems = Math.max(1, chunkBytes / elemBytes);
        long largest = (count + parts - 1) / parts;
        this.maxChunks = Math.toIntExact(Math.max(1, (largest + chunkElems - 1) / chunkElems));
    }

    long start(int s) {
        return count * s / parts;
    }

    long length(int s) {
        return start(s + 1) - start(s);
    }

    int chunks(int s) {
        return (int) ((length(s) + chunkElems - 1) / chunkElems);
    }

    /** Element range of chunk c within its segment: [c*chunkElems, min(length, (c+1)*chunkElems)). */
    private long chunkLength(int s, int c) {
        return Math.min(length(s), (long) (c + 1) * chunkElems) - (long) c * chunkElems;
    }

    /** Segment s of a buffer holding all {@code count} elements. */
    ByteBuffer segment(ByteBuffer all, int s) {
        return region(all, start(s), length(s));
    }

    /** Chunk c of segment s of a buffer holding all {@code count} elements. */
    ByteBuffer chunk(ByteBuffer all, int s, int c) {
        return region(all, start(s) + (long) c * chunkElems, chunkLength(s, c));
    }

    /** Chunk c of segment s of a buffer holding only segment s. */
    ByteBuffer chunkOfSegment(ByteBuffer segment, int s, int c) {
        return region(segment, (long) c * chunkElems, chunkLength(s, c));
    }

    /** Tag of chunk c in ring step {@code step} (steps of all phases of one operation numbered apart). */
    int tag(int step, int c) {
        return Math.addExact(Math.multiplyExact(step, maxChunks), c);
    }

    private ByteBuffer region(ByteBuffer b, long firstElem, long elems) {
        int from = b.position() + Math.toIntExact(firstElem * elemBytes);
        ByteBuffer d = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        d.limit(from + Math.toIntExact(elems * elemBytes)).position(from);
        return d;
    }

    static int mod(int a, int n) {
        return ((a % n) + n) % n;
    }
}
