package io.megalith.core.train;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.DirectBuffers;
import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the process and one rank hold: resident memory (the number that must stay flat over a long run), the Java
 * heap, direct buffers, and the native tensors alive under one rank's manager (several ranks share a JVM under
 * {@code local[N]}: RSS alone cannot tell whose memory grows).
 */
public final class Memory {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final double MIB = 1024.0 * 1024.0;

    private Memory() {}

    /** Java heap committed by the JVM, in MiB: the part of {@link #residentMiB()} that is not native memory. */
    public static double javaHeapMiB() {
        return java.lang.Runtime.getRuntime().totalMemory() / MIB;
    }

    /** Bytes of live direct {@link java.nio.ByteBuffer}s of the whole JVM (freed ones are not counted). */
    public static long directBytes() {
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                return pool.getTotalCapacity();
            }
        }
        return -1;
    }

    /**
     * Bytes of native tensor memory reachable from {@code manager} and its sub-managers: the union of the address
     * ranges of every live tensor (a view and the buffer it views count once). Meant between steps, when every live
     * tensor is contiguous (parameters, their views, gradients, constants).
     */
    public static long liveTensorBytes(NDManager manager) {
        if (!(manager instanceof BaseNDManager base) || !manager.isOpen()) {
            return 0;
        }
        List<long[]> ranges = new ArrayList<>();
        for (NDArray a : base.getManagedArrays()) {
            if (!(a instanceof PtNDArray t) || t.isReleased()) {
                continue;
            }
            long bytes = t.getShape().size() * t.getDataType().getNumOfBytes();
            if (bytes == 0) {
                continue;
            }
            long at = DirectBuffers.address(t.toByteBuffer(true));
            ranges.add(new long[] {at, at + bytes});
        }
        ranges.sort((x, y) -> Long.compare(x[0], y[0]));
        long total = 0;
        long end = Long.MIN_VALUE;
        for (long[] r : ranges) {
            if (r[1] <= end) {
                continue;
            }
            total += r[1] - Math.max(r[0], end);
            end = r[1];
        }
        return total;
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
