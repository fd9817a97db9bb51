package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.moe.MoeContext;
import io.megalith.core.moe.MoeStats;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.util.Arrays;
import java.util.Random;

/**
 * The cost of the MoE blocks of {@code conf/moe-shakespeare-char.yaml} against the dense model of
 * {@code conf/shakespeare-char.yaml}: forward and backward of one batch of 12 x 64 tokens on one libtorch thread,
 * the two models alternating (so both see the same machine load), min and median over the rounds after 10 warm-up
 * rounds.
 *
 * <pre>  java -cp ... io.megalith.bench.MoeOverheadBench [rounds]</pre>
 */
public final class MoeOverheadBench {
    private MoeOverheadBench() {}

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        Torch.load(1);
        JniUtils.setNumThreads(1);
        GptConfig dense = new GptConfig(65, 64, 4, 4, 128, 0.0, false);
        GptConfig moe = new GptConfig(65, 64, 4, 4, 128, 0.0, false,
                new MegalithConfig.Moe(2, 4, 1, 1.25, 0.01, 0.001));
        try (NDManager root = Torch.newManager()) {
            ParallelGpt[] models = {GptPlan.apply(new Gpt(dense), Placement.SINGLE),
                GptPlan.apply(new Gpt(moe), Placement.SINGLE)};
            ParameterStore[] stores = new ParameterStore[2];
            for (int i = 0; i < 2; i++) {
                stores[i] = new ParameterStore(models[i].model(), root, 1);
                models[i].initConstants(root);
            }
            Random r = new Random(1);
            long[] ids = new long[12 * 64];
            long[] targets = new long[12 * 64];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(65);
                targets[i] = r.nextInt(65);
            }
            long[][] nanos = new long[2][rounds + 10];
            for (int k = 0; k < rounds + 10; k++) {
                for (int i = 0; i < 2; i++) {
                    long t0 = System.nanoTime();
                    try (NDScope s = new NDScope(); NDManager m = root.newSubManager()) {
                        ForwardContext ctx = new ForwardContext(true, 1, 0, m)
                                .withMoe(i == 1 ? new MoeContext(1.0 / 12, new MoeStats(2, 4)) : null);
                        SegmentedPass.run(models[i].segments(Targets.of(m, targets)), Ops.longs(m, ids, 12, 64), ctx,
                                1f, SegmentedPass.NO_HOOKS, false);
                    }
                    stores[i].zeroGradients();
                    nanos[i][k] = System.nanoTime() - t0;
                }
            }
            double[] median = new double[2];
            for (int i = 0; i < 2; i++) {
                long[] a = Arrays.copyOfRange(nanos[i], 10, rounds + 10);
                Arrays.sort(a);
                median[i] = a[a.length / 2] / 1e6;
                System.out.printf("%-5s forward+backward: min %.1f ms, median %.1f ms%n", i == 0 ? "dense" : "moe",
                        a[0] / 1e6, median[i]);
            }
            System.out.printf("moe / dense (median): %.2f%n", median[1] / median[0]);
        }
    }
}
