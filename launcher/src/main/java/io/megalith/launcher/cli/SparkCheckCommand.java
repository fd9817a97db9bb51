package io.megalith.launcher.cli;

import io.megalith.launcher.spark.BarrierJob;
import io.megalith.launcher.spark.LocalSpark;
import io.megalith.launcher.spark.RankContext;
import io.megalith.parallel.transport.PeerAddress;
import java.io.PrintStream;
import java.io.Serializable;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.SparkEnv;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code megalith spark-check}: runs a trivial barrier job whose ranks listen on a port, exchange their
 * addresses through the rendezvous and report them. It checks that a Spark cluster can run Megalith's ranks:
 * under spark-submit it uses the submitted application's cluster, otherwise an embedded {@code local[N]}.
 */
@Command(name = "spark-check", mixinStandardHelpOptions = true,
        description = "Run N ranks as one Spark barrier stage; they exchange addresses and print them.")
final class SparkCheckCommand implements Callable<Integer> {
    @Option(names = {"-n", "--ranks"}, defaultValue = "2", paramLabel = "N", description = "world size (default: ${DEFAULT-VALUE})")
    int ranks;

    /** What one rank reports to the driver. */
    record Report(int rank, String executorId, String host, long pid, List<PeerAddress> peers, String fingerprint)
            implements Serializable {
    }

    @Override
    public Integer call() {
        // spark-submit passes its settings (spark.master among them) to the application as system properties
        boolean submitted = System.getProperty("spark.master") != null;
        LocalSpark local = submitted ? null : LocalSpark.builder(ranks).appName("megalith spark-check").start();
        SparkSession spark = submitted ? SparkSession.builder().appName("megalith spark-check").getOrCreate()
                : local.session();
        PrintStream out = System.out;
        try {
            out.printf("megalith: spark-check: %d ranks on %s (%s)%n", ranks, spark.sparkContext().master(),
                    spark.sparkContext().applicationId());
            List<Report> reports = BarrierJob.run(spark, "spark-check", ranks, SparkCheckCommand::rank);
            for (Report r : reports) {
                out.printf("  rank %d: executor %s on %s (pid %d) sees %s%n", r.rank(), r.executorId(), r.host(),
                        r.pid(), r.peers().stream().map(p -> p.rank() + "=" + p.host() + ":" + p.port()).toList());
            }
            boolean agree = reports.stream().allMatch(r -> r.peers().equals(reports.get(0).peers())
                    && r.fingerprint().equals(reports.get(0).fingerprint()));
            long jvms = reports.stream().map(Report::pid).distinct().count();
            if (!agree) {
                out.println("megalith: spark-check FAILED: the ranks saw different addresses or secrets");
                return 1;
            }
            out.printf("megalith: spark-check ok: %d ranks in %d executor JVM(s) agree on %d addresses and one job secret%n",
                    ranks, jvms, reports.get(0).peers().size());
            return 0;
        } finally {
            if (local != null) {
                local.close();
            } else {
                spark.stop();
            }
        }
    }

    /** One rank: listen on a free port of this executor's host, publish it, collect everyone's. */
    static Report rank(RankContext ctx) throws Exception {
        try (ServerSocket socket = new ServerSocket(0, 8, InetAddress.getByName(ctx.executorHost()))) {
            List<PeerAddress> peers = ctx.rendezvous().exchange(
                    new PeerAddress(ctx.rank(), ctx.executorHost(), socket.getLocalPort()));
            return new Report(ctx.rank(), SparkEnv.get().executorId(), ctx.executorHost(), ProcessHandle.current().pid(),
                    peers, ctx.secret().fingerprint());
        }
    }
}
