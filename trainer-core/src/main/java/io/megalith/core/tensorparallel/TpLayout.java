package io.megalith.core.tensorparallel;

/**
 * Where this rank sits in its tensor-parallel group and how Megatron's layers split across it. A layout
 * of size 1 makes every parallel layer exactly the plain layer.
 */
public record TpLayout(int rank, int size) {
    public static final TpLayout SINGLE = new TpLayout(0, 1);

    public TpLayout {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("tensor-parallel rank " + rank + " of " + size);
        }
    }

    public boolean parallel() {
        return size > 1;
    }

    /** This rank's part [from, to) of n items: floor(n r / size). */
    public long[] part(long n) {
        return new long[] {n * rank / size, n * (rank + 1) / size};
    }

    /** This rank's part of each of {@code blocks} consecutive blocks of n items (e.g. the q, k and v heads). */
    public long[][] parts(long n, int blocks) {
        long[][] r = new long[blocks][];
        long[] p = part(n);
        for (int b = 0; b < blocks; b++) {
            r[b] = new long[] {b * n + p[0], b * n + p[1]};
        }
        return r;
    }

    public static long size(long[][] ranges) {
        long s = 0;
        for (long[] r : ranges) {
            s += r[1] - r[0];
        }
        return s;
    }
}
