package io.megalith.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.Trainer;
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

/**
 * One model, trained by 2 ranks in three layouts, DP=2, TP=2 and PP=2 (1F1B), and by 1 rank: the median
 * step time, the communication volume a rank sends per step (payload bytes on its Netty transport) and the
 * bytes of parameters, gradients and optimizer state a rank holds. Ranks are threads of this JVM with one
 * libtorch thread each, connected by real sockets on 127.0.0.1.
 *
 * <pre>  java -cp ... io.megalith.bench.ParallelLayoutBench [steps]</pre>
 */
public final class ParallelLayoutBench {
    private ParallelLayoutBench() {}

    record Measure(double stepMs, long bytesPerStep, long[] memory, double bubble) {}

    /** Called by rank 0 when its timed steps begin (after the warm-up), e.g. to reset a memory sampler. */
    static volatile Runnable onTimedStart = () -> {};

    public static void main(String[] args) throws Exception {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 12;
        String model = "{n_layer: 4, n_head: 8, n_embd: 256, block_size: 128, dropout: 0.0, bias: false}";
        String[][] layouts = {{"1 rank", "1", "1", "1"}, {"DP=2", "2", "1", "1"}, {"TP=2", "1", "2", "1"},
            {"PP=2 (1F1B)", "1", "1", "2"}};
        for (String[] l : layouts) {
            MegalithConfig cfg = ConfigLoader.fromYaml("model: " + model + """

                    data: {task: text, path: bench, tokenizer: char}
                    train: {batch_size: 8, grad_accum: 4, lr: 1.0e-3, warmup_steps: 2}
                    runtime: {threads: 1}
                    """, List.of("parallel.dp=" + l[1], "parallel.tp=" + l[2], "parallel.pp=" + l[3]), "layout bench");
            DeviceMesh mesh = DeviceMesh.of(cfg.parallel().dp(), cfg.parallel().tp(), cfg.parallel().pp());
            List<Measure> ranks = run(mesh, cfg, steps);
            Measure r0 = ranks.get(0);
            double slowest = ranks.stream().mapToDouble(Measure::stepMs).max().orElse(0);
            System.out.printf("layout=%s ranks=%d median_step_ms=%.0f sent_MiB_per_step_per_rank=%.2f "
                    + "params_MiB=%.2f grads_MiB=%.2f optimizer_MiB=%.2f bubble_rank0=%.2f%n", l[0], mesh.worldSize(),
                    slowest, r0.bytesPerStep() / 1048576.0, r0.memory()[0] / 1048576.0, r0.memory()[1] / 1048576.0,
                    r0.memory()[2] / 1048576.0, r0.bubble());
        }
    }

    static List<Measure> run(DeviceMesh mesh, MegalithConfig cfg, int steps) throws Exception {
        int n = mesh.worldSize();
        byte[] secret = "parallel-layout-bench-secret".getBytes(StandardCharsets.US_ASCII);
        InJvmRendezvous rendezvous = new InJvmRendezvous(n, Duration.ofSeconds(60));
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<Measure>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int me = r;
                futures.add(pool.submit(() -> {
                    try (NettyTransport t = NettyTransport.start(me, n, TransportConfig.of("bench", secret), rendezvous);
                            ParallelContext ctx = new ParallelContext(mesh, me, (id, name, ranks) ->
                                    new GroupCommunicator(t, id, name, ranks, CommOptions.defaults()))) {
                        return train(cfg, ctx.rankGroups(), t, steps);
                    }
                }));
            }
            List<Measure> out = new ArrayList<>();
            for (Future<Measure> f : futures) {
                out.add(f.get());
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    static Measure train(MegalithConfig cfg, RankGroups groups, NettyTransport transport, int steps) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        String text = TrainThroughput.randomText(300_000);
        CharTokenizer tok = CharTokenizer.fit(text);
        TextData data = new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize())),
                    Placement.of(groups, cfg.parallel().sequenceParallel()));
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager, groups.dataParallel());
            gpt.initConstants(manager);
            try (Trainer trainer = new Trainer(cfg, new GptParts(gpt, data), params, manager, groups)) {
                int warmup = 3;
                for (int s = 0; s < warmup; s++) {
                    trainer.step(s);
                }
                if (groups.tensorParallel().rank() == 0 && groups.dataParallel().rank() == 0
                        && groups.pipeline().rank() == 0) {
                    onTimedStart.run();
                }
                long bytes0 = transport.bytesSent();
                double[] ms = new double[steps];
                double bubble = 0;
                for (int s = 0; s < steps; s++) {
                    long t0 = System.nanoTime();
                    trainer.step(warmup + s);
                    ms[s] = (System.nanoTime() - t0) / 1e6;
                    bubble += trainer.bubble() / steps;
                }
                Arrays.sort(ms);
                return new Measure(ms[steps / 2], (transport.bytesSent() - bytes0) / steps, trainer.memoryBytes(), bubble);
            }
        }
    }
}
