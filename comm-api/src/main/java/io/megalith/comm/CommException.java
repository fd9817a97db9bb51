package io.megalith.comm;

/**
 * A collective or point-to-point operation failed: a peer died or disconnected, a deadline passed,
 * or the group was closed. The message names the operation, the group and the peer rank involved,
 * e.g. {@code all_reduce on group dp[0,2] (seq 17): rank 2 disconnected}.
 */
public class CommException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int peer;

    public CommException(String message, int peer, Throwable cause) {
        super(message, cause);
        this.peer = peer;
    }

    public CommException(String message, int peer) {
        this(message, peer, null);
    }

    /** The global rank of the peer that failed or did not answer, or -1 if none in particular. */
    public int peer() {
        return peer;
    }
}
