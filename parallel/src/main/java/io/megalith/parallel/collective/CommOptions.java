package io.megalith.parallel.collective;

import java.time.Duration;

/**
 * Tuning and safety limits of collective operations.
 *
 * @param deadline how long any one operation may take before it fails naming the silent peer
 * @param chunkBytes size of the pieces a large message is cut into, so ring steps pipeline
 * @param smallMessageBytes messages up to this size take the latency path (direct exchange) instead of the ring
 * @param bf16Wire F32 all-reduces send bfloat16 on the wire (half the bytes; values rounded to nearest even,
 *     accumulated in fp32; results keep about 3 significant digits and stay bit-identical across ranks)
 */
public record CommOptions(Duration deadline, int chunkBytes, int smallMessageBytes, boolean bf16Wire) {
    public CommOptions(Duration deadline, int chunkBytes, int smallMessageBytes) {
        this(deadline, chunkBytes, smallMessageBytes, false);
    }

    /**
     * 60 s deadline, 1 MiB chunks, latency path up to 32 KiB, fp32 on the wire. Measured on loopback
     * (2 cores, 2 and 4 ranks; docs/BENCHMARKS-allreduce.md): chunks of 64-512 KiB were slower at 1 MiB
     * (per-frame costs outweigh the finer pipelining) and 2-4 MiB no better at 16-64 MiB; the direct
     * exchange beats the ring up to 16-32 KiB, and loses at 64 KiB (2 ranks: ~270 us vs ~170 us).
     */
    public static CommOptions defaults() {
        return new CommOptions(Duration.ofSeconds(60), 1 << 20, 32 << 10, false);
    }

    public CommOptions withDeadline(Duration d) {
        return new CommOptions(d, chunkBytes, smallMessageBytes, bf16Wire);
    }

    public CommOptions withBf16Wire(boolean on) {
        return new CommOptions(deadline, chunkBytes, smallMessageBytes, on);
    }
}
