package io.megalith.launcher.spark;

import java.io.IOException;
import java.io.InvalidObjectException;
import java.io.ObjectInputStream;
import java.io.Serial;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * 32 random bytes made on the driver for one job and shared by its ranks only, so that (next) the ranks' own
 * connections can authenticate each other. Everything that prints an object ({@code toString}, exception
 * messages, Spark's serialization debugger) sees {@code JobSecret[redacted]}; the value is read only through
 * {@link #bytes()}. Deliberately no {@code equals}/{@code hashCode}: compare with {@link #matches}, which takes
 * constant time.
 */
public final class JobSecret implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;
    /** Length in bytes. */
    public static final int LENGTH = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final byte[] bytes;

    private JobSecret(byte[] bytes) {
        if (bytes.length != LENGTH) {
            throw new IllegalArgumentException("a job secret has " + LENGTH + " bytes, not " + bytes.length);
        }
        this.bytes = bytes.clone();
    }

    /** A fresh secret from a {@link SecureRandom}. */
    public static JobSecret random() {
        byte[] b = new byte[LENGTH];
        RANDOM.nextBytes(b);
        return new JobSecret(b);
    }

    /** A secret with the given 32 bytes (copied), e.g. for tests or a restarted job. */
    public static JobSecret of(byte[] bytes) {
        return new JobSecret(bytes);
    }

    /** A copy of the secret's bytes. */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** Whether {@code other} is this secret, in time independent of where they differ. */
    public boolean matches(byte[] other) {
        return MessageDigest.isEqual(bytes, other);
    }

    /**
     * 16 hex digits of a domain-separated SHA-256 of the secret: safe to log or compare (it reveals nothing
     * usable about 256 random bits), e.g. to check that every rank received the same secret.
     */
    public String fingerprint() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update("megalith job secret fingerprint\0".getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(sha.digest(bytes), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return "JobSecret[redacted]";
    }

    @Serial
    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        if (bytes == null || bytes.length != LENGTH) {
            throw new InvalidObjectException("a job secret has " + LENGTH + " bytes");
        }
    }
}
