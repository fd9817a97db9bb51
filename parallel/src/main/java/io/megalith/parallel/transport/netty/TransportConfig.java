package io.megalith.parallel.transport.netty;

import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;

/**
 * Settings of one {@link NettyTransport}. Every rank of a job must use the same {@code jobId} and
 * {@code secret}; {@link #toString()} never shows the secret.
 *
 * @param jobId names the job instance; a peer with another job id is refused
 * @param secret per-job shared secret (at least 16 bytes) keying the HMAC-SHA256 handshake
 * @param host address to bind and to publish to the peers
 * @param port port to bind; 0 picks a free one
 * @param connectTimeout how long {@code start} may take to connect and authenticate the full mesh; also
 *     how long an accepted connection may stay unauthenticated
 * @param maxFrameBytes largest frame (after the 4-byte length prefix) accepted from an authenticated
 *     peer; a data frame holds 17 header bytes and the payload
 * @param handshakeMaxFrameBytes largest frame accepted before the peer is authenticated
 * @param ioThreads Netty event loop threads of this rank
 * @param handshakeLimits caps on connections that have not authenticated yet
 */
public record TransportConfig(
        String jobId,
        byte[] secret,
        String host,
        int port,
        Duration connectTimeout,
        int maxFrameBytes,
        int handshakeMaxFrameBytes,
        int ioThreads,
        HandshakeLimits handshakeLimits) {

    public static final int DEFAULT_MAX_FRAME_BYTES = 256 << 20;
    public static final int DEFAULT_HANDSHAKE_MAX_FRAME_BYTES = 4 << 10;
    /** A hello with a long job id must still fit before authentication. */
    static final int MIN_HANDSHAKE_FRAME_BYTES = 512;
    static final int MAX_JOB_ID_CHARS = 200;

    public TransportConfig {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(secret, "secret");
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(handshakeLimits, "handshakeLimits");
        if (jobId.isEmpty() || jobId.length() > MAX_JOB_ID_CHARS) {
            throw new IllegalArgumentException("jobId must have 1.." + MAX_JOB_ID_CHARS + " characters");
        }
        if (secret.length < 16) {
            throw new IllegalArgumentException("secret must have at least 16 bytes, got " + secret.length);
        }
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port out of range: " + port);
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("connectTimeout must be positive");
        }
        if (handshakeMaxFrameBytes < MIN_HANDSHAKE_FRAME_BYTES || maxFrameBytes < handshakeMaxFrameBytes) {
            throw new IllegalArgumentException("need " + MIN_HANDSHAKE_FRAME_BYTES
                    + " <= handshakeMaxFrameBytes <= maxFrameBytes, got " + handshakeMaxFrameBytes + " and " + maxFrameBytes);
        }
        if (ioThreads < 1) throw new IllegalArgumentException("ioThreads must be >= 1");
        secret = secret.clone(); // the caller may wipe or reuse its array
    }

    /**
     * Defaults: 127.0.0.1, ephemeral port, 30 s to connect, 256 MiB frames, 4 KiB handshake frames, 1 I/O thread,
     * {@link HandshakeLimits#DEFAULTS}.
     */
    public static TransportConfig of(String jobId, byte[] secret) {
        return new TransportConfig(jobId, secret, "127.0.0.1", 0, Duration.ofSeconds(30),
                DEFAULT_MAX_FRAME_BYTES, DEFAULT_HANDSHAKE_MAX_FRAME_BYTES, 1, HandshakeLimits.DEFAULTS);
    }

    /** A copy: the record's own array is never handed out. */
    @Override
    public byte[] secret() {
        return secret.clone();
    }

    public TransportConfig withHost(String h) {
        return new TransportConfig(jobId, secret, h, port, connectTimeout, maxFrameBytes, handshakeMaxFrameBytes, ioThreads, handshakeLimits);
    }

    public TransportConfig withPort(int p) {
        return new TransportConfig(jobId, secret, host, p, connectTimeout, maxFrameBytes, handshakeMaxFrameBytes, ioThreads, handshakeLimits);
    }

    public TransportConfig withConnectTimeout(Duration d) {
        return new TransportConfig(jobId, secret, host, port, d, maxFrameBytes, handshakeMaxFrameBytes, ioThreads, handshakeLimits);
    }

    public TransportConfig withMaxFrameBytes(int n) {
        return new TransportConfig(jobId, secret, host, port, connectTimeout, n, handshakeMaxFrameBytes, ioThreads, handshakeLimits);
    }

    public TransportConfig withHandshakeMaxFrameBytes(int n) {
        return new TransportConfig(jobId, secret, host, port, connectTimeout, maxFrameBytes, n, ioThreads, handshakeLimits);
    }

    public TransportConfig withIoThreads(int n) {
        return new TransportConfig(jobId, secret, host, port, connectTimeout, maxFrameBytes, handshakeMaxFrameBytes, n, handshakeLimits);
    }

    public TransportConfig withHandshakeLimits(HandshakeLimits l) {
        return new TransportConfig(jobId, secret, host, port, connectTimeout, maxFrameBytes, handshakeMaxFrameBytes, ioThreads, l);
    }

    /** How long an accepted connection may stay unauthenticated: the shorter of the two timeouts. */
    Duration acceptedHandshakeTimeout() {
        return handshakeLimits.handshakeTimeout().compareTo(connectTimeout) < 0 ? handshakeLimits.handshakeTimeout() : connectTimeout;
    }

    /** Largest payload one {@link NettyTransport#send} can carry. */
    public int maxPayloadBytes() {
        return maxFrameBytes - Frames.DATA_HEADER_BYTES;
    }

    /** Package-private: the live array, for the HMAC only. */
    byte[] secretBytes() {
        return secret;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TransportConfig c && jobId.equals(c.jobId) && Arrays.equals(secret, c.secret)
                && host.equals(c.host) && port == c.port && connectTimeout.equals(c.connectTimeout)
                && maxFrameBytes == c.maxFrameBytes && handshakeMaxFrameBytes == c.handshakeMaxFrameBytes
                && ioThreads == c.ioThreads && handshakeLimits.equals(c.handshakeLimits);
    }

    @Override
    public int hashCode() {
        return Objects.hash(jobId, host, port, connectTimeout, maxFrameBytes, handshakeMaxFrameBytes, ioThreads, handshakeLimits);
    }

    @Override
    public String toString() {
        return "TransportConfig[jobId=" + jobId + ", secret=<redacted>, host=" + host + ", port=" + port
                + ", connectTimeout=" + connectTimeout + ", maxFrameBytes=" + maxFrameBytes
                + ", handshakeMaxFrameBytes=" + handshakeMaxFrameBytes + ", ioThreads=" + ioThreads + ", handshakeLimits=" + handshakeLimits + "]";
    }
}
