package io.megalith.parallel.collective;

import java.time.Duration;

/**
 * Tuning and safety limits of collective operations.
 *
 * @param deadline how long any one operation may take before it fails naming the silent peer
 * @param chunkBytes size of the pieces a large message is cut into, so ring steps pipeline
 * @param smallMessageBytes messages up to this size take the latency path (direct exchange) instead of the ring
 */
public record CommOptions(Duration deadline, int chunkBytes, int smallMessageBytes) {
    public static CommOptions defaults() {
        return new CommOptions(Duration.ofSeconds(60), 1 << 20, 64 << 10);
    }

    public CommOptions withDeadline(Duration d) {
        return new CommOptions(d, chunkBytes, smallMessageBytes);
    }
}
