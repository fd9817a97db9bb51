package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import io.megalith.core.generate.Generator;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.quantize.GptDecoder;
import io.megalith.core.quantize.Int8Kernel;
import io.megalith.core.quantize.Int8Weights;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Batch-1 KV-cache decoding speed of a GPT three ways, interleaved round by round: the model on libtorch (what
 * {@code megalith generate} runs: {@link Generator}, fp32), the Java decoder on fp32 weights and on int8 weights
 * ({@link GptDecoder}). Weights are random (speed does not depend on them). E.g.
 * <pre>
 * java --add-modules=jdk.incubator.vector -cp bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/runtime-classpath.txt) \
 *   io.megalith.bench.DecodeSpeed "4 4 128 64 65,6 6 384 256 65,12 12 768 1024 50304"
 * </pre>
 * (layers heads width block_size vocab per shape; -Ddecode.tokens=128 new tokens per round, -Ddecode.rounds=5 after
 * one warm-up round, -Ddecode.threads=2 libtorch threads; the Java decoder runs on one thread).
 */
public final class DecodeSpeed {
    private DecodeSpeed() {}

    public static void main(String[] args) throws Exception {
        int tokens = Integer.getInteger("decode.tokens", 128);
        int rounds = Integer.getInteger("decode.rounds", 5);
        int threads = Integer.getInteger("decode.threads", 2);
        Torch.load(threads);
        System.out.printf("float lanes %d, libtorch threads %d, %d new tokens per round, median of %d rounds%n",
                Int8Kernel.lanes(), threads, tokens, rounds);
        for (String spec : (args.length > 0 ? args[0] : "4 4 128 64 65,6 6 384 256 65").split(",")) {
            int[] s = Arrays.stream(spec.trim().split(" +")).mapToInt(Integer::parseInt).toArray();
            GptConfig cfg = new GptConfig(s[4], s[3], s[0], s[1], s[2], 0.0, true);
            int n = Math.min(tokens, cfg.blockSize() - 1);
            try (NDManager root = Torch.newManager()) {
                Gpt gpt = new Gpt(cfg);
                try (ParameterStore store = new ParameterStore(gpt, root, 1)) {
                    gpt.initConstants(root);
                    Map<String, HostTensor> weights = store.toHost();
                    long params = gpt.parameters().stream().mapToLong(p -> p.numel()).sum();
                    Map<String, HostTensor> quantized = Int8Weights.quantize(weights);
                    long fp32Bytes = weights.values().stream().mapToLong(t -> t.data().remaining()).sum();
                    long int8Bytes = quantized.values().stream().mapToLong(t -> t.data().remaining()).sum();
                    GptDecoder fp32 = GptDecoder.fp32(cfg, weights);
                    GptDecoder int8 = GptDecoder.int8(cfg, quantized);
                    weights = null;
                    Generator generator = new Generator(gpt, root);
                    List<Double> torch = new ArrayList<>();
                    List<Double> javaFp32 = new ArrayList<>();
                    List<Double> javaInt8 = new ArrayList<>();
                    for (int r = 0; r <= rounds; r++) {
                        double a = timed(() -> generator.generate(new long[][] {{0}}, n, 0, 0, 1, true), n);
                        double b = timed(() -> decode(fp32, n), n);
                        double c = timed(() -> decode(int8, n), n);
                        if (r > 0) {
                            torch.add(a);
                            javaFp32.add(b);
                            javaInt8.add(c);
                        }
                    }
                    double t = median(torch);
                    double f = median(javaFp32);
                    double q = median(javaInt8);
                    System.out.printf(Locale.ROOT, "DECODE %s: %,d parameters, weights %.1f MB fp32 / %.1f MB int8 "
                            + "(%.3fx): tokens/s libtorch fp32 %.1f | Java fp32 %.1f (%.2fx) | Java int8 %.1f (%.2fx "
                            + "libtorch, %.2fx Java fp32)%n", spec.trim(), params, fp32Bytes / 1e6, int8Bytes / 1e6,
                            (double) int8Bytes / fp32Bytes, t, f, f / t, q, q / t, q / f);
                }
            }
        }
    }

    /** Greedy decoding of n tokens from token 0. */
    private static void decode(GptDecoder decoder, int n) {
        decoder.reset();
        int token = 0;
        for (int i = 0; i < n; i++) {
            float[] logits = decoder.next(token);
            int best = 0;
            for (int v = 1; v < logits.length; v++) {
                if (logits[v] > logits[best]) {
                    best = v;
                }
            }
            token = best;
        }
    }

    /** Tokens per second of one run of {@code work} producing n tokens. */
    private static double timed(Runnable work, int n) {
        long t0 = System.nanoTime();
        work.run();
        return n / ((System.nanoTime() - t0) / 1e9);
    }

    private static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        sorted.sort(null);
        int m = sorted.size();
        return m % 2 == 1 ? sorted.get(m / 2) : (sorted.get(m / 2 - 1) + sorted.get(m / 2)) / 2;
    }
}
