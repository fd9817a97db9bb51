package io.megalith.comm;

/** An operation did not complete before its deadline (a peer stopped answering). */
public class CommTimeoutException extends CommException {
    private static final long serialVersionUID = 1L;

    public CommTimeoutException(String message, int peer) {
        super(message, peer);
    }
}
