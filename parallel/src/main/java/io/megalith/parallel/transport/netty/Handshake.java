package io.megalith.parallel.transport.netty;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The HMAC-SHA256 challenge-response. Each side proves it holds the job secret by a MAC over
 * (direction label, job id, connecting rank, accepting rank, both nonces); fresh nonces on both sides
 * defeat replay, the label keeps a proof from being reflected back, and the connecting side proves
 * first so that an unauthenticated peer never obtains a MAC it did not already know.
 */
final class Handshake {
    static final int VERSION = 1;
    static final int NONCE_BYTES = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Handshake() {}

    static byte[] nonce() {
        byte[] n = new byte[NONCE_BYTES];
        RANDOM.nextBytes(n);
        return n;
    }

    static byte[] clientProof(byte[] secret, String jobId, int client, int server, byte[] clientNonce, byte[] serverNonce) {
        return mac(secret, "megalith-transport-v1 client", jobId, client, server, clientNonce, serverNonce);
    }

    static byte[] serverProof(byte[] secret, String jobId, int client, int server, byte[] clientNonce, byte[] serverNonce) {
        return mac(secret, "megalith-transport-v1 server", jobId, client, server, clientNonce, serverNonce);
    }

    /** Constant-time comparison, so timing does not reveal how much of a forged MAC was right. */
    static boolean matches(byte[] expected, byte[] actual) {
        return actual != null && MessageDigest.isEqual(expected, actual);
    }

    private static byte[] mac(byte[] secret, String label, String jobId, int client, int server, byte[] nc, byte[] ns) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(128);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            // length-prefixed fields: no two different tuples encode to the same bytes
            out.writeUTF(label);
            out.writeUTF(jobId);
            out.writeInt(client);
            out.writeInt(server);
            out.writeInt(nc.length);
            out.write(nc);
            out.writeInt(ns.length);
            out.write(ns);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            return mac.doFinal(bytes.toByteArray());
        } catch (GeneralSecurityException e) {
            // the message names the algorithm only; the key never appears in it
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }
}
