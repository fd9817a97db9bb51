package io.megalith.core.data;

/**
 * A token stream that can be read at any position: an array in memory, or prepared shards on a file system
 * ({@link io.megalith.core.data.shards.TokenShards}). {@link TextData} samples windows from any of them, so the
 * samples of a step are the same whichever way the stream is stored.
 */
public interface TokenSource {
    /** Number of tokens in the stream. */
    long size();

    /** The token at {@code position}, in [0, {@link #size()}). */
    int token(long position);

    /**
     * Copies tokens [position, position + dst.length) into {@code dst}; the range may span storage boundaries
     * (e.g. shards).
     *
     * @throws IndexOutOfBoundsException if the range is not inside the stream
     */
    void read(long position, int[] dst);

    /** A stream over {@code tokens} itself (not copied). */
    static TokenSource of(int[] tokens) {
        return new TokenSource() {
            @Override
            public long size() {
                return tokens.length;
            }

            @Override
            public int token(long position) {
                return tokens[Math.toIntExact(position)];
            }

            @Override
            public void read(long position, int[] dst) {
                System.arraycopy(tokens, Math.toIntExact(position), dst, 0, dst.length);
            }
        };
    }
}
