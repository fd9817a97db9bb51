package io.megalith.launcher.train;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.train.TrainingRun;
import io.megalith.launcher.spark.RankContext;
import io.megalith.launcher.spark.RankTask;
import io.megalith.parallel.collective.CommOptions;
import io.megalith.parallel.collective.GroupCommunicator;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import io.megalith.parallel.transport.netty.NettyTransport;
import io.megalith.parallel.transport.netty.TransportConfig;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.TaskContext;

/**
 * What every Spark barrier task runs: connect to the other ranks over Netty (addresses from the
 * barrier rendezvous, authenticated with the job's secret), build the device mesh's process groups,
 * then train its share. Rank 0 writes the run directory; the driver follows it from metrics.jsonl.
 *
 * @param configYaml the job's full configuration (validated on the driver)
 * @param attempt which attempt of the job this is (1 = first), for logs and fault injection
 * @param threadsPerRank libtorch threads of this rank; 0 = the CPUs Spark gives the task (spark.task.cpus)
 * @param failure an injected fault for tests of restarts, or null
 * @param preparedData the token shards Spark prepared for a text task, or null
 */
record TrainRankTask(String configYaml, int attempt, int threadsPerRank, FaultInjection failure, String preparedData)
        implements RankTask<TrainingRun.Summary> {
    private static final long serialVersionUID = 1L;

    @Override
    public TrainingRun.Summary run(RankContext ctx) throws Exception {
        List<String> overrides = new ArrayList<>();
        int threads = threadsPerRank > 0 ? threadsPerRank : Math.max(1, TaskContext.get().cpus());
        overrides.add("runtime.threads=" + threads);
        MegalithConfig cfg = ConfigLoader.fromYaml(configYaml, overrides, "job config");
        MegalithConfig.Parallel p = cfg.parallel();
        MegalithConfig.Comm c = cfg.comm();
        TransportConfig transportConfig = TransportConfig.of(ctx.jobName() + "#" + ctx.stageId(), ctx.secret().bytes())
                .withHost(ctx.executorHost())
                .withConnectTimeout(Duration.ofMillis((long) (c.connectTimeoutSeconds() * 1000)));
        CommOptions options = new CommOptions(Duration.ofMillis((long) (c.deadlineSeconds() * 1000)), c.chunkKib() << 10,
                c.smallMessageKib() << 10, false);
        DeviceMesh mesh = DeviceMesh.forWorld(ctx.worldSize(), p.dp(), p.tp(), p.pp(), p.ep());
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        try (NettyTransport transport = NettyTransport.start(ctx.rank(), ctx.worldSize(), transportConfig, ctx.rendezvous());
                ParallelContext parallel = new ParallelContext(mesh, ctx.rank(),
                        (id, name, ranks) -> new GroupCommunicator(transport, id, name, ranks, options));
                // the family builds its part of the run (model, plan, trainer, data); the run is every family's
                TrainingRun run = ModelFamilies.of(cfg).newRun(cfg, new Configuration(), quiet, parallel.rankGroups(),
                        ctx.rank() == 0, preparedData)) {
            if (failure != null) {
                run.onStep(step -> failure.maybeFail(ctx.rank(), step, attempt));
            }
            return run.run();
        }
    }
}
