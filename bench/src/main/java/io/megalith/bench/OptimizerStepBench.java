package io.megalith.bench;

import io.megalith.core.optim.AdamW;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;

/**
 * Time of the per-step work outside the model: gradient norm and the fused AdamW update over a
 * flat buffer of the nanoGPT CPU config's 804,096 parameters (median of 200 after 50 warm-up).
 *
 * <pre>  java -cp ... io.megalith.bench.OptimizerStepBench [numel]</pre>
 */
public final class OptimizerStepBench {
    private OptimizerStepBench() {}

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 804_096;
        FloatBuffer params = direct(n);
        FloatBuffer grads = direct(n);
        Random r = new Random(1);
        for (int i = 0; i < n; i++) {
            params.put(i, (float) r.nextGaussian() * 0.02f);
            grads.put(i, (float) r.nextGaussian() * 1e-3f);
        }
        AdamW adam = new AdamW(n, n * 3 / 4, 0.9, 0.99, 1e-8, 0.1);
        double[] norm = new double[250];
        double[] step = new double[250];
        for (int i = 0; i < 250; i++) {
            long t0 = System.nanoTime();
            double g = AdamW.l2Norm(grads);
            long t1 = System.nanoTime();
            adam.step(params, grads, 1e-3, Math.min(1, 1 / (g + 1e-6)));
            long t2 = System.nanoTime();
            norm[i] = (t1 - t0) / 1e6;
            step[i] = (t2 - t1) / 1e6;
        }
        System.out.printf("numel=%d l2norm_ms=%.3f adamw_step_ms=%.3f (%.2f ns/element)%n", n, median(norm),
                median(step), median(step) * 1e6 / n);
    }

    private static FloatBuffer direct(int n) {
        return ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    private static double median(double[] xs) {
        double[] tail = Arrays.copyOfRange(xs, 50, xs.length);
        Arrays.sort(tail);
        return tail[tail.length / 2];
    }
}
