package io.megalith.parallel.transport.netty;

/**
 * Control messages, serialized by {@link ControlCodec}. The handshake is: connecting rank c sends
 * {@link Hello}, accepting rank s answers {@link Challenge}, c sends {@link Proof}, s answers
 * {@link Accept}; either side may send {@link Reject} instead and close. {@link Goodbye} announces a
 * deliberate close of an authenticated connection.
 */
final class Control {
    private Control() {}

    /** c to s: who c is, whom it wants, and c's nonce. */
    record Hello(int version, String jobId, int worldSize, int fromRank, int toRank, byte[] nonce) {}

    /** s to c: s's nonce. */
    record Challenge(byte[] nonce) {}

    /** c to s: HMAC proving c holds the secret (see {@link Handshake}). */
    record Proof(byte[] mac) {}

    /** s to c: HMAC proving s holds the secret; the connection is open. */
    record Accept(byte[] mac) {}

    /** Why the connection is refused; never contains the secret. */
    record Reject(String reason) {}

    /** The sender closes its transport; the receiver treats it as failed at once. */
    record Goodbye(String reason) {}
}
