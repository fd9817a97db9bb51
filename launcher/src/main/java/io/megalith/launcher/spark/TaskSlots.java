package io.megalith.launcher.spark;

import org.apache.spark.SparkContext;

/**
 * Counts the tasks a Spark application can run at once, to refuse a barrier job that could never start.
 * Spark checks this too, but when it fails it resubmits the check every 15 s for 40 tries (ten minutes of
 * apparent hang) before it gives up with a generic error; this fails at once with the numbers.
 */
final class TaskSlots {
    private static final String WAIT_KEY = "spark.scheduler.maxRegisteredResourcesWaitingTime";

    private TaskSlots() {
    }

    /**
     * Spark's own count, the one its barrier check uses: executor cores over {@code spark.task.cpus} (and custom
     * resources), summed over live executors; for {@code local[N]}, N over {@code spark.task.cpus}.
     * {@code SparkContext.maxNumConcurrentTasks} is {@code private[spark]} in Scala, which is public bytecode;
     * Spark's version is pinned in the root pom, and a change of this internal method breaks the build, not a run.
     */
    static int available(SparkContext sc) {
        return sc.maxNumConcurrentTasks(sc.resourceProfileManager().defaultResourceProfile());
    }

    /**
     * Returns when the application can run {@code ranks} tasks at once. On a cluster, executors register after
     * the session starts: wait for them up to {@code spark.scheduler.maxRegisteredResourcesWaitingTime}
     * (Spark's own patience for that, 30 s by default), unless {@code spark.cores.max} rules it out. In local
     * mode the count is final.
     *
     * @throws InsufficientSlotsException if it cannot
     */
    static void require(SparkContext sc, int ranks) {
        int slots = available(sc);
        int taskCpus = sc.getConf().getInt("spark.task.cpus", 1);
        int coresMax = sc.getConf().getInt("spark.cores.max", 0);
        // no wait in local mode, nor when the application may never hold enough cores (spark.cores.max)
        boolean mayGrow = !sc.isLocal() && (coresMax <= 0 || coresMax / taskCpus >= ranks);
        long waitMs = mayGrow ? sc.getConf().getTimeAsMs(WAIT_KEY, "30s") : 0;
        long deadline = System.nanoTime() + waitMs * 1_000_000;
        while (slots < ranks && System.nanoTime() < deadline) {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            slots = available(sc);
        }
        if (slots >= ranks) {
            return;
        }
        String details;
        if (sc.isLocal()) {
            details = "master " + sc.master() + " runs " + slots + " tasks at once (spark.task.cpus=" + taskCpus
                    + "). Use fewer ranks or a master with more threads, e.g. local[" + ranks + "].";
        } else {
            int executors = Math.max(0, sc.statusTracker().getExecutorInfos().length - 1); // less the driver
            details = "master " + sc.master() + ", " + executors + " executor(s) registered"
                    + (mayGrow ? " after waiting " + waitMs / 1000 + " s (" + WAIT_KEY + ")" : "")
                    + ", spark.task.cpus=" + taskCpus + ", spark.executor.cores="
                    + sc.getConf().get("spark.executor.cores", "unset") + ", spark.cores.max="
                    + (coresMax > 0 ? coresMax : "unset")
                    + ". Give the application more executor cores or use fewer ranks.";
        }
        throw new InsufficientSlotsException(ranks, slots, details);
    }
}
