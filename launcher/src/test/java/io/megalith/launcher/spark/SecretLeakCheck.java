package io.megalith.launcher.spark;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Test helper: the forms in which a leaked secret would show up in text, and a side channel through which test
 * ranks hand their secret to the test (local mode runs the tasks in this JVM) without Spark seeing it.
 */
final class SecretLeakCheck {
    /** Secrets seen by the ranks of each job, by job name then rank. */
    static final Map<String, Map<Integer, byte[]>> SEEN = new ConcurrentHashMap<>();

    private SecretLeakCheck() {
    }

    static void record(RankContext ctx) {
        SEEN.computeIfAbsent(ctx.jobName(), k -> new ConcurrentHashMap<>()).put(ctx.rank(), ctx.secret().bytes());
    }

    /** Every textual form of {@code secret} worth searching for. */
    static List<String> encodings(byte[] secret) {
        return List.of(
                HexFormat.of().formatHex(secret),
                HexFormat.of().withUpperCase().formatHex(secret),
                Base64.getEncoder().encodeToString(secret),
                Base64.getEncoder().withoutPadding().encodeToString(secret),
                Base64.getUrlEncoder().withoutPadding().encodeToString(secret),
                Arrays.toString(secret),
                new String(secret, StandardCharsets.ISO_8859_1));
    }
}
