package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Structure;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.pipeline.PpLayout;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import io.megalith.parallel.transport.InJvmRendezvous;
import io.megalith.parallel.transport.netty.NettyTransport;
import io.megalith.parallel.transport.netty.TransportConfig;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * TP=2 with and without sequence parallelism on one model whose activations matter (4 layers, 8 heads, 256 wide,
 * context 256, batch 8): the median step time, the bytes a rank sends per step, and memory. Ranks are threads of
 * this JVM (one libtorch thread each, Netty on 127.0.0.1), so memory is measured for the process and halved: the
 * native heap in use (glibc mallinfo2: libtorch's CPU allocator is malloc) sampled every 2 ms during the timed
 * steps, its peak minus its level between steps (activations and their gradients live only within a step), and the
 * peak resident set (VmHWM). Run it once per setting, each in its own JVM:
 *
 * <pre>  java -cp ... io.megalith.bench.SequenceParallelBench false [steps [n_embd [block_size]]]
 *   java -cp ... io.megalith.bench.SequenceParallelBench true [steps [n_embd [block_size]]]</pre>
 */
public final class SequenceParallelBench {
    private SequenceParallelBench() {}

    /** glibc's mallinfo2 (2.33+): size_t fields. */
    public static class MallInfo2 extends Structure implements Structure.ByValue {
        public long arena;
        public long ordblks;
        public long smblks;
        public long hblks;
        public long hblkhd;
        public long usmblks;
        public long fsmblks;
        public long uordblks;
        public long fordblks;
        public long keepcost;

        @Override
        protected List<String> getFieldOrder() {
            return List.of("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                    "keepcost");
        }
    }

    interface LibC extends Library {
        MallInfo2 mallinfo2();
    }

    static final LibC LIBC = Native.load("c", LibC.class);

    /** Bytes of native heap in use: small blocks plus mmapped large ones. */
    static long heapInUse() {
        MallInfo2 m = LIBC.mallinfo2();
        return m.uordblks + m.hblkhd;
    }

    public static void main(String[] args) throws Exception {
        boolean sp = Boolean.parseBoolean(args.length > 0 ? args[0] : "false");
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        int width = args.length > 2 ? Integer.parseInt(args[2]) : 256;
        int context = args.length > 3 ? Integer.parseInt(args[3]) : 256;
        MegalithConfig cfg = ConfigLoader.fromYaml("model: {n_layer: 4, n_head: 8, n_embd: " + width + ", block_size: "
                + context + ", dropout: 0.0, bias: false}\n" + """
                data: {task: text, path: bench, tokenizer: char}
                train: {batch_size: 8, grad_accum: 1, lr: 1.0e-3, warmup_steps: 2}
                runtime: {threads: 1}
                """, List.of("parallel.tp=2", "parallel.sequence_parallel=" + sp), "sequence parallel bench");
        AtomicLong peak = new AtomicLong();
        AtomicLong low = new AtomicLong(Long.MAX_VALUE);
        AtomicBoolean sampling = new AtomicBoolean(true);
        ParallelLayoutBench.onTimedStart = () -> {
            peak.set(0);
            low.set(Long.MAX_VALUE);
        };
        Thread sampler = new Thread(() -> {
            while (sampling.get()) {
                long u = heapInUse();
                peak.accumulateAndGet(u, Math::max);
                low.accumulateAndGet(u, Math::min);
                try {
                    Thread.sleep(2);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "heap-sampler");
        sampler.setDaemon(true);
        sampler.start();
        List<ParallelLayoutBench.Measure> ranks = ParallelLayoutBench.run(DeviceMesh.of(1, 2, 1), cfg, steps);
        sampling.set(false);
        sampler.join();
        long[] activations = activationBytes(cfg);
        double slowest = ranks.stream().mapToDouble(ParallelLayoutBench.Measure::stepMs).max().orElse(0);
        System.out.printf("sequence_parallel=%s tp=2 n_embd=%d block_size=%d median_step_ms=%.0f sent_MiB_per_step_per_rank=%.2f "
                + "heap_peak_MiB_per_rank=%.1f heap_between_steps_MiB_per_rank=%.1f step_transient_MiB_per_rank=%.1f "
                + "peak_rss_MiB_process=%.0f activations_after_forward_MiB_per_rank=%.1f "
                + "micro_batch_after_backward_MiB_per_rank=%.1f%n", sp, width, context, slowest, ranks.get(0).bytesPerStep() / 1048576.0,
                peak.get() / 2 / 1048576.0, low.get() / 2 / 1048576.0, (peak.get() - low.get()) / 2 / 1048576.0,
                ActivationMemoryBench.peakMiB(), activations[0] / 1048576.0,
                activations[1] / 1048576.0);
    }

    /**
     * What one micro-batch keeps from its forward for its backward, per rank: the native heap in use after the
     * forward minus before it (both ranks stopped at a barrier, halved), the median of 3 micro-batches; and the same
     * after its backward, before its tensors are released (activations plus every gradient: the micro-batch's peak).
     */
    static long[] activationBytes(MegalithConfig cfg) throws Exception {
        int n = 2;
        byte[] secret = "sequence-parallel-bench-secret".getBytes(StandardCharsets.US_ASCII);
        InJvmRendezvous rendezvous =
                new InJvmRendezvous(n, Duration.ofSeconds(60));
        DeviceMesh mesh = DeviceMesh.of(1, 2, 1);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<long[]>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int me = r;
                futures.add(pool.submit(() -> {
                    try (var t = NettyTransport.start(me, n,
                            TransportConfig.of("bench", secret), rendezvous);
                            var ctx = new ParallelContext(mesh, me, (id, name, ranks) ->
                                    new GroupCommunicator(t, id, name, ranks,
                                            CommOptions.defaults()))) {
                        return forwardFootprint(cfg, ctx.rankGroups());
                    }
                }));
            }
            long[] result = futures.get(0).get();
            futures.get(1).get();
            return result;
        } finally {
            pool.shutdownNow();
        }
    }

    static long[] forwardFootprint(MegalithConfig cfg, RankGroups groups) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        String text = TrainThroughput.randomText(300_000);
        var tok = CharTokenizer.fit(text);
        var data = new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
        var tp = groups.tensorParallel();
        boolean measures = tp.rank() == 0;
        try (NDManager manager = Torch.newManager()) {
            var gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize())),
                    new Placement(new TpLayout(tp.rank(), tp.size()), tp, PpLayout.SINGLE,
                            cfg.parallel().sequenceParallel(), null));
            GptParts.createParameters(cfg, gpt, manager, groups.dataParallel());
            gpt.initConstants(manager);
            long[] kept = new long[3];
            long[] keptAfterBackward = new long[3];
            for (int rep = 0; rep < kept.length; rep++) {
                var batch = data.train(rep, 0, cfg.train().batchSize());
                try (NDScope scope = new NDScope();
                        NDManager m = manager.newSubManager()) {
                    var ids = Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen());
                    var tg = Targets.of(m, batch.targets());
                    var ctx = new ForwardContext(true, 11, 0, m);
                    var pass = new SegmentedPass(gpt.segments(tg), ctx,
                            SegmentedPass.NO_HOOKS,
                            SegmentedPass.Recompute.NONE, tp, false, true);
                    tp.barrier();
                    long before = measures ? heapInUse() : 0;
                    tp.barrier();
                    pass.forward(ids);
                    tp.barrier();
                    long after = measures ? heapInUse() : 0;
                    tp.barrier();
                    pass.backward(Ops.scalar(m, 1f));
                    tp.barrier();
                    long end = measures ? heapInUse() : 0;
                    tp.barrier();
                    pass.close();
                    kept[rep] = (after - before) / 2;
                    keptAfterBackward[rep] = (end - before) / 2;
                }
            }
            Arrays.sort(kept);
            Arrays.sort(keptAfterBackward);
            return new long[] {kept[1], keptAfterBackward[1]};
        }
    }
}
