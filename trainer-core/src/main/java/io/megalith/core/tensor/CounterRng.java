package io.megalith.core.tensor;

/**
 * A counter-based random number generator: every number is a pure function of (key, index).
 *
 * <p>Why: any rank can produce any slice of a random tensor (a tensor-parallel shard of an init,
 * a dropout mask for its part of a sequence) without replaying a stream, and resuming at step k
 * needs no saved RNG state: keys are derived from (seed, purpose, step, ...). The mixer is
 * SplitMix64's finaliser, which passes BigCrush on sequential counters.
 */
public final class CounterRng {
    private CounterRng() {}

    /** A 64-bit key derived from a parent key and further coordinates. */
    public static long key(long parent, long... coordinates) {
        long k = mix(parent ^ 0x243F6A8885A308D3L);
        for (long c : coordinates) {
            k = mix(k + 0x9E3779B97F4A7C15L * (c + 1));
        }
        return k;
    }

    /** A key for a string label (e.g. a parameter name), stable across JVMs. */
    public static long key(long parent, String label) {
        long h = 0xcbf29ce484222325L; // FNV-1a over UTF-16 units: stable and cheap
        for (int i = 0; i < label.length(); i++) {
            h ^= label.charAt(i);
            h *= 0x100000001b3L;
        }
        return key(parent, h);
    }

    public static long bits(long key, long index) {
        return mix(key + 0x9E3779B97F4A7C15L * (index + 1));
    }

    /** Uniform in [0, 1) with 24 bits, exactly representable as a float. */
    public static float uniform(long key, long index) {
        return (bits(key, index) >>> 40) * 0x1.0p-24f;
    }

    /** Uniform integer in [0, bound). */
    public static long below(long key, long index, long bound) {
        return Math.floorMod(bits(key, index), bound) ; // bias < bound / 2^64: negligible for data offsets
    }

    /** Standard normal by Box-Muller on two independent uniforms of the same index. */
    public static double normal(long key, long index) {
        long b = bits(key, index);
        long c = mix(b ^ 0xD1B54A32D192ED03L);
        double u1 = ((b >>> 11) + 1) * 0x1.0p-53; // (0, 1]
        double u2 = (c >>> 11) * 0x1.0p-53;
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
