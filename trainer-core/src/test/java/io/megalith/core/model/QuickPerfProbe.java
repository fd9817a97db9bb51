package io.megalith.core.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.optim.AdamW;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.util.Arrays;
import java.util.Random;

public class QuickPerfProbe {
    public static void main(String[] args) {
        int threads = Integer.parseInt(args.length > 0 ? args[0] : "1");
        Torch.load(threads);
        GptConfig cfg = new GptConfig(65, 64, 4, 4, 128, 0.0, false);
        NDManager root = Torch.newManager();
        Gpt gpt = new Gpt(cfg);
        ParameterStore store = new ParameterStore(gpt, root, 1337);
        gpt.initConstants(root);
        AdamW opt = new AdamW((int) store.numel(), (int) store.decayElements(), 0.9, 0.99, 1e-8, 0.1);
        java.nio.FloatBuffer grads = java.nio.ByteBuffer.allocateDirect((int) store.numel() * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        java.nio.FloatBuffer values = store.values();
        Random r = new Random(1);
        int B = 12, T = 64;
        long[] times = new long[60];
        for (int it = 0; it < times.length; it++) {
            if (it == 40 && args.length > 1) JniUtils.startProfile(false, true, false);
            long t0 = System.nanoTime();
            try (NDScope scope = new NDScope(); NDManager step = root.newSubManager()) {
                long[] x = new long[B * T];
                long[] y = new long[B * T];
                for (int i = 0; i < x.length; i++) { x[i] = r.nextInt(65); y[i] = r.nextInt(65); }
                PtNDArray ids = Ops.longs(step, x, B, T);
                Targets tg = Targets.of(step, y);
                JniUtils.setGradMode(true);
                PtNDArray loss = gpt.loss(ids, tg, new ForwardContext(true, it, step));
                JniUtils.setGradMode(false);
                JniUtils.backward(loss, Ops.scalar(step, 1f), false, false);
                store.copyGradients(grads);
                double norm = AdamW.l2Norm(grads);
                opt.step(values, grads, 1e-3, Math.min(1.0, 1.0 / (norm + 1e-6)));
                store.zeroGradients();
                if (it % 20 == 0) System.out.println("it " + it + " loss " + loss.getFloat() + " norm " + norm);
            }
            times[it] = System.nanoTime() - t0;
            if (it == 49 && args.length > 1) JniUtils.stopProfile(args[1]);
        }
        long[] tail = Arrays.copyOfRange(times, 10, times.length);
        Arrays.sort(tail);
        double med = tail[tail.length / 2] / 1e6;
        System.out.printf("threads %d median step %.2f ms -> %.0f tokens/s%n", threads, med, B * T / (med / 1000));
    }
}
