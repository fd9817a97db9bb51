package io.megalith.launcher.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.parallel.transport.PeerAddress;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;

/** {@link BarrierJobContract} with 2 ranks on {@code local[2]}, and how a job fails there. */
class BarrierJobLocal2Test extends BarrierJobContract {
    private static final AtomicInteger STARTED = new AtomicInteger();

    @Override
    int ranks() {
        return 2;
    }

    @Test
    void moreRanksThanSlotsFailOnTheDriverBeforeAnyTaskStarts() {
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> BarrierJob.run(spark.context(), "too-big", 3, ctx -> STARTED.incrementAndGet()))
                .isInstanceOf(InsufficientSlotsException.class)
                .hasMessageStartingWith("world size 3 needs 3 task slots, the cluster has 2: master local[2]");
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(2.0);
        assertThat(STARTED).hasValue(0);
        assertThat(spark.context().statusTracker().getActiveJobIds()).isEmpty();
    }

    @Test
    void aRankThatThrowsFailsTheJobWithItsErrorAndFreesTheSlots() {
        String job = "one-rank-throws";
        long t0 = System.nanoTime();
        Throwable thrown = Assertions.catchThrowable(() -> BarrierJob.run(spark.context(), job, 2, ctx -> {
            SecretLeakCheck.record(ctx);
            if (ctx.rank() == 1) {
                throw new IllegalStateException("boom from rank 1");
            }
            return ctx.rendezvous().exchange(new PeerAddress(0, "127.0.0.1", 1)); // rank 0 waits for rank 1 in vain
        }));
        assertThat(thrown).isInstanceOf(BarrierJobException.class)
                .hasMessageContaining("megalith: job 'one-rank-throws' (2 ranks) failed: ")
                .hasMessageContaining("java.lang.IllegalStateException: boom from rank 1")
                .hasMessageNotContaining("\tat "); // the stack trace stays in the cause
        assertThat(((BarrierJobException) thrown).jobName()).isEqualTo(job);
        assertThat((System.nanoTime() - t0) / 1e9).as("seconds to fail").isLessThan(30.0);
        StringWriter trace = new StringWriter();
        thrown.printStackTrace(new PrintWriter(trace));
        for (byte[] secret : SecretLeakCheck.SEEN.get(job).values()) {
            for (String form : SecretLeakCheck.encodings(secret)) {
                assertThat(trace.toString()).doesNotContain(form);
            }
        }
        // the waiting rank was released: both slots run the next job
        assertThat(BarrierJob.run(spark.context(), "after-failure", 2, RankContext::rank)).containsExactly(0, 1);
    }

    @Test
    void aCheckedExceptionIsReportedWithItsTypeAndRank() {
        assertThatThrownBy(() -> BarrierJob.run(spark.context(), "checked", 2, ctx -> {
            if (ctx.rank() == 0) {
                throw new IOException("disk gone");
            }
            return ctx.rank();
        })).isInstanceOf(BarrierJobException.class)
                .hasMessageContaining("rank 0 of checked failed: java.io.IOException: disk gone");
    }

    @Test
    void theCallersJobGroupAndCallSiteAreRestored() {
        var sc = spark.context();
        sc.setJobGroup("outer-group", "outer description", false);
        try {
            assertThat(BarrierJob.run(sc, "restores", 2, ctx -> ctx.worldSize())).containsExactly(2, 2);
            assertThat(sc.getLocalProperty("spark.jobGroup.id")).isEqualTo("outer-group");
            assertThat(sc.getLocalProperty("spark.job.description")).isEqualTo("outer description");
            assertThat(sc.getLocalProperty("callSite.short")).isNull();
        } finally {
            sc.clearJobGroup();
        }
    }

    @Test
    void aSecondLocalSparkInTheSameJvmIsRefused() {
        assertThatThrownBy(() -> LocalSpark.start(2)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already running");
    }

    @Test
    void resultsAreOrderedByRank() {
        List<String> out = BarrierJob.run(spark.session(), "order", 2, ctx -> "rank-" + ctx.rank() + "-of-" + ctx.worldSize());
        assertThat(out).containsExactly("rank-0-of-2", "rank-1-of-2");
    }
}
