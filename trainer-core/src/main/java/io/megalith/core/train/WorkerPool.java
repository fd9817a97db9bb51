package io.megalith.core.train;

import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The {@code runtime.workers} threads that split a rank's micro-batch, each with an equal share of libtorch's threads.
 * Small matrices scale better this way than by splitting every matmul across libtorch's threads.
 */
final class WorkerPool implements AutoCloseable {
    private final ExecutorService pool;

    /** {@code n} > 1 workers sharing {@code runtime.threads} (else every libtorch thread). */
    WorkerPool(MegalithConfig config, int n) {
        int threads = config.runtime().threads() > 0 ? config.runtime().threads() : Torch.threads();
        int threadsPerWorker = Math.max(1, threads / n);
        // The calling thread must not keep an OpenMP team of its own: its idle threads spin for
        // milliseconds after every parallel region and take the cores the workers need.
        JniUtils.setNumThreads(threadsPerWorker);
        this.pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(() -> {
                JniUtils.setNumThreads(threadsPerWorker);
                r.run();
            }, "megalith-worker");
            t.setDaemon(true);
            return t;
        });
    }

    /** Runs every task on a worker; returns their results summed in task order (deterministic). */
    double sum(List<Callable<Double>> tasks) {
        List<Future<Double>> results = new ArrayList<>();
        for (Callable<Double> task : tasks) {
            results.add(pool.submit(task));
        }
        double sum = 0;
        for (Future<Double> f : results) {
            try {
                sum += f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted in a training step", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("a worker failed in a training step", e.getCause());
            }
        }
        return sum;
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
