package io.megalith.core.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident memory of this process, the number that must stay flat over a long run. */
public final class Memory {
    private static final Path STATUS = Path.of("/proc/self/status");

    private Memory() {}

    /** Java heap committed by the JVM, in MiB: the part of {@link #residentMiB()} that is not native memory. */
    public static double javaHeapMiB() {
        return java.lang.Runtime.getRuntime().totalMemory() / (1024.0 * 1024.0);
    }

    /** VmRSS in MiB from /proc (Linux), or -1 where unavailable. */
    public static double residentMiB() {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith("VmRSS:")) {
                    String kb = line.substring(6).trim().split("\\s+")[0];
                    return Long.parseLong(kb) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
