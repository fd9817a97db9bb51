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
 * (layers heads width block_size vocab per shape, optionally head_size mlp_hidden after them for a structurally
 * pruned GPT, e.g. "6 4 256 64 65 32 512"; -Ddecode.tokens=128 new tokens per round, -Ddecode.rounds=5 after
 * one warm-up round, -Ddecode.threads=2 libtorch threads; the Java decoder runs on one thread).
 */
public final class DecodeSpeed {
    private DecodeSpeed() {}

    /** One shape's three decoders and the tokens/s each measured per round. */
    private record Shape(String spec, int n, long params, long fp32Bytes, long int8Bytes, Generator generator,
            GptDecoder fp32, GptDecoder int8, List<Double> torch, List<Double> javaFp32, List<Double> javaInt8) {}

    public static void main(String[] args) throws Exception {
        int tokens = Integer.getInteger("decode.tokens", 128);
        int rounds = Integer.getInteger("decode.rounds", 5);
        int threads = Integer.getInteger("decode.threads", 2);
        Torch.load(threads);
        System.out.printf("float lanes %d, libtorch threads %d, %d new tokens per round, median of %d rounds, shapes "
                + "interleaved%n", Int8Kernel.lanes(), threads, tokens, rounds);
        try (NDManager root = Torch.newManager()) {
            List<Shape> shapes = new ArrayList<>();
            List<ParameterStore> stores = new ArrayList<>();
            for (String spec : (args.length > 0 ? args[0] : "4 4 128 64 65,6 6 384 256 65").split(",")) {
                int[] s = Arrays.stream(spec.trim().split(" +")).mapToInt(Integer::parseInt).toArray();
                GptConfig cfg = new GptConfig(s[4], s[3], s[0], s[1], s[2], 0.0, true, null, s.length > 5 ? s[5] : 0,
                        s.length > 6 ? s[6] : 0);
                Gpt gpt = new Gpt(cfg);
                ParameterStore store = new ParameterStore(gpt, root, 1);
                stores.add(store);
                gpt.initConstants(root);
                Map<String, HostTensor> weights = store.toHost();
                Map<String, HostTensor> quantized = Int8Weights.quantize(weights);
                shapes.add(new Shape(spec.trim(), Math.min(tokens, cfg.blockSize() - 1),
                        gpt.parameters().stream().mapToLong(p -> p.numel()).sum(),
                        weights.values().stream().mapToLong(t -> t.data().remaining()).sum(),
                        quantized.values().stream().mapToLong(t -> t.data().remaining()).sum(),
                        new Generator(gpt, root), GptDecoder.fp32(cfg, weights), GptDecoder.int8(cfg, quantized),
                        new ArrayList<>(), new ArrayList<>(), new ArrayList<>()));
            }
            for (int r = 0; r <= rounds; r++) { // round 0 warms up
                for (Shape sh : shapes) {
                    int n = sh.n();
                    double a = timed(() -> sh.generator().generate(new long[][] {{0}}, n, 0, 0, 1, true), n);
                    double b = timed(() -> decode(sh.fp32(), n), n);
                    double c = timed(() -> decode(sh.int8(), n), n);
                    if (r > 0) {
                        sh.torch().add(a);
                        sh.javaFp32().add(b);
                        sh.javaInt8().add(c);
                    }
                }
            }
            for (Shape sh : shapes) {
                double t = median(sh.torch());
                double f = median(sh.javaFp32());
                double q = median(sh.javaInt8());
                System.out.printf(Locale.ROOT, "DECODE %s: %,d parameters, weights %.1f MB fp32 / %.1f MB int8 "
                        + "(%.3fx): tokens/s libtorch fp32 %.1f | Java fp32 %.1f (%.2fx) | Java int8 %.1f (%.2fx "
                        + "libtorch, %.2fx Java fp32)%n", sh.spec(), sh.params(), sh.fp32Bytes() / 1e6,
                        sh.int8Bytes() / 1e6, (double) sh.int8Bytes() / sh.fp32Bytes(), t, f, f / t, q, q / t, q / f);
            }
            stores.forEach(ParameterStore::close);
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
