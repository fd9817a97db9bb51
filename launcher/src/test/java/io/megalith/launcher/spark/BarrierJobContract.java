package io.megalith.launcher.spark;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.parallel.transport.PeerAddress;
import java.io.Serializable;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What a {@link BarrierJob} guarantees on {@code local[N]}, for the N of each subclass. One Spark per class:
 * starting one costs seconds.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class BarrierJobContract {
    protected LocalSpark spark;

    /** The world size, and the slots of the local Spark. */
    abstract int ranks();

    @BeforeAll
    void startSpark() {
        spark = LocalSpark.start(ranks());
    }

    @AfterAll
    void stopSpark() {
        if (spark != null) {
            spark.close();
        }
    }

    /** What a rank saw, sent back to the driver. */
    record Report(int rank, int worldSize, List<PeerAddress> peers, String fingerprint, long startNanos,
                  long endNanos, String thread) implements Serializable {
    }

    /** A rank that listens on a real port, exchanges it through the rendezvous, and reports. */
    static Report exchangeAddresses(RankContext ctx) throws Exception {
        long start = System.nanoTime();
        try (ServerSocket socket = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            List<PeerAddress> peers = ctx.rendezvous().exchange(
                    new PeerAddress(ctx.rank(), ctx.executorHost(), socket.getLocalPort()));
            return new Report(ctx.rank(), ctx.worldSize(), peers, ctx.secret().fingerprint(), start,
                    System.nanoTime(), Thread.currentThread().getName());
        }
    }

    @Test
    void ranksRunAtOnceMeetInTheRendezvousAndReturnInRankOrder() {
        int n = ranks();
        List<Report> reports = BarrierJob.run(spark.context(), "exchange-" + n, n, BarrierJobContract::exchangeAddresses);

        assertThat(reports).extracting(Report::rank).containsExactlyElementsOf(range(n));
        assertThat(reports).extracting(Report::worldSize).containsOnly(n);
        // every rank got every rank's address, ordered by rank: only possible if all ran at the same time
        List<PeerAddress> peers = reports.get(0).peers();
        assertThat(peers).extracting(PeerAddress::rank).containsExactlyElementsOf(range(n));
        assertThat(peers).extracting(PeerAddress::host).containsOnly("127.0.0.1");
        assertThat(new HashSet<>(peers.stream().map(PeerAddress::port).toList())).hasSize(n);
        assertThat(reports).allSatisfy(r -> assertThat(r.peers()).isEqualTo(peers));
        long lastStart = reports.stream().mapToLong(Report::startNanos).max().orElseThrow();
        long firstEnd = reports.stream().mapToLong(Report::endNanos).min().orElseThrow();
        assertThat(lastStart).as("every rank started before any finished").isLessThan(firstEnd);
        assertThat(reports).extracting(Report::thread).doesNotHaveDuplicates();
        // the same secret reached every rank; a second job gets another
        assertThat(reports).extracting(Report::fingerprint).containsOnly(reports.get(0).fingerprint());
        List<Report> again = BarrierJob.run(spark.context(), "exchange-again-" + n, n, BarrierJobContract::exchangeAddresses);
        assertThat(again.get(0).fingerprint()).isNotEqualTo(reports.get(0).fingerprint());
    }

    @Test
    void theSecretReachesEveryRankButNoLogNorTheUi() throws Exception {
        int n = ranks();
        String job = "secret-check-" + n;
        List<String> events = new CopyOnWriteArrayList<>();
        CountDownLatch ended = new CountDownLatch(1);
        SparkListener listener = new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart e) {
                e.properties().forEach((k, v) -> events.add("job property " + k + "=" + v));
            }

            @Override
            public void onStageSubmitted(SparkListenerStageSubmitted e) {
                events.add("stage name=" + e.stageInfo().name());
                events.add("stage details=" + e.stageInfo().details());
                e.properties().forEach((k, v) -> events.add("stage property " + k + "=" + v));
            }

            @Override
            public void onJobEnd(SparkListenerJobEnd e) {
                ended.countDown();
            }
        };
        spark.session().sparkContext().addSparkListener(listener);
        String log;
        List<String> fingerprints;
        try (LogCapture capture = new LogCapture()) {
            fingerprints = BarrierJob.run(spark.context(), job, n, ctx -> {
                SecretLeakCheck.record(ctx);
                return ctx.secret().fingerprint();
            });
            assertThat(ended.await(30, TimeUnit.SECONDS)).isTrue(); // listener events arrive asynchronously
            log = capture.text();
        } finally {
            spark.session().sparkContext().removeSparkListener(listener);
        }

        Map<Integer, byte[]> seen = SecretLeakCheck.SEEN.get(job);
        assertThat(seen).hasSize(n);
        byte[] secret = seen.get(0);
        assertThat(seen.values()).allSatisfy(s -> assertThat(s).isEqualTo(secret));
        assertThat(fingerprints).containsOnly(JobSecret.of(secret).fingerprint());
        // the job and its stage carry Megalith's name, so the searches below look at the right job
        assertThat(events).contains("job property spark.job.description=megalith: " + job,
                "stage name=megalith: " + job);
        assertThat(log).contains("megalith: " + job); // DAGScheduler logs the job: the capture works
        List<String> forms = SecretLeakCheck.encodings(secret);
        for (String form : forms) {
            assertThat(log).doesNotContain(form);
            assertThat(events).allSatisfy(e -> assertThat(e).doesNotContain(form));
        }
    }

    static List<Integer> range(int n) {
        List<Integer> r = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            r.add(i);
        }
        return r;
    }
}
