package io.megalith.core.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.Scalars;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;

/**
 * Runs one optimizer step of a pipeline stage: the step's micro-batches under its {@link PipelineSchedule} (GPipe or
 * 1F1B), each a {@link SegmentedPass} over this stage's segments. Activations go to the next stage and their
 * gradients come back with send/recv on the pipeline group (tags 2m and 2m+1). The first stage feeds the inputs, the
 * last computes the loss, which is then shared with every stage. The time a stage waits for its neighbours is its
 * bubble.
 *
 * <p>What a micro-batch computes (its segments, dropout keys, hooks, loss weight) is the caller's: a {@link Stage}
 * builds it when its forward starts, in a manager of its own that lives until its backward is done.
 */
public final class PipelineExecutor {
    /**
     * Micro-batch m on this stage: its pass (built with {@code inputNeedsGradient} = not the first stage and
     * {@code endsWithLoss} = the last), the first stage's input (null on the others: received), and its loss's weight
     * in the step (the last stage's backward starts from it).
     */
    public record MicroBatch(SegmentedPass pass, PtNDArray input, double lossShare) {}

    /** Builds micro-batch {@code microBatch}'s part on this stage in {@code manager}. */
    public interface Stage {
        MicroBatch start(int microBatch, NDManager manager);
    }

    /**
     * One step's outcome: the loss (weighted sum over the micro-batches, the same on every stage), the share of the
     * step this stage waited for its neighbours, and the nanoseconds spent sharing the loss.
     */
    public record Result(double loss, double bubble, long commNanos) {}

    private final String schedule;
    private final Communicator pipeline;
    private final NDManager manager;

    public PipelineExecutor(String schedule, Communicator pipeline, NDManager manager) {
        this.schedule = schedule;
        this.pipeline = pipeline;
        this.manager = manager;
    }

    public boolean firstStage() {
        return pipeline.rank() == 0;
    }

    public boolean lastStage() {
        return pipeline.rank() == pipeline.size() - 1;
    }

    /**
     * Runs {@code microBatches} micro-batches through this stage; {@code activation} is the shape of what crosses a
     * stage boundary (and of its gradient).
     */
    public Result run(int microBatches, Shape activation, Stage stage) {
        Communicator pp = pipeline;
        boolean first = firstStage();
        boolean last = lastStage();
        SegmentedPass[] passes = new SegmentedPass[microBatches];
        NDManager[] managers = new NDManager[microBatches];
        double[] shares = new double[microBatches];
        double loss = 0;
        long waitNanos = 0;
        long start = System.nanoTime();
        for (PipelineSchedule.Action a : PipelineSchedule.of(schedule, microBatches, pp.rank(), pp.size())) {
            int m = a.microBatch();
            if (a.forward()) {
                managers[m] = manager.newSubManager();
                try (NDScope scope = new NDScope()) {
                    MicroBatch mb = stage.start(m, managers[m]);
                    passes[m] = mb.pass();
                    shares[m] = mb.lossShare();
                    PtNDArray input = mb.input();
                    if (!first) {
                        input = Ops.pt(managers[m].zeros(activation));
                        long w = System.nanoTime();
                        pp.recv(Ops.bytes(input, true), pp.rank() - 1, 2 * m);
                        waitNanos += System.nanoTime() - w;
                    }
                    PtNDArray out = passes[m].forward(input);
                    if (last) {
                        loss += passes[m].loss() * shares[m];
                    } else {
                        pp.send(Ops.bytes(out, true), pp.rank() + 1, 2 * m);
                    }
                }
            } else {
                try (NDScope scope = new NDScope()) {
                    PtNDArray upstream;
                    if (last) {
                        upstream = Ops.scalar(managers[m], (float) shares[m]);
                    } else {
                        upstream = Ops.pt(managers[m].zeros(activation));
                        long w = System.nanoTime();
                        pp.recv(Ops.bytes(upstream, true), pp.rank() + 1, 2 * m + 1);
                        waitNanos += System.nanoTime() - w;
                    }
                    PtNDArray grad = passes[m].backward(upstream);
                    if (!first) {
                        pp.send(Ops.bytes(JniUtils.clone(grad), true), pp.rank() - 1, 2 * m + 1);
                    }
                    passes[m].close();
                    managers[m].close();
                }
            }
        }
        double bubble = (double) waitNanos / (System.nanoTime() - start);
        long t0 = System.nanoTime();
        // the loss lives on the last stage (the others add 0)
        loss = Scalars.sumInRankOrder(new double[] {loss}, pp)[0];
        return new Result(loss, bubble, System.nanoTime() - t0);
    }
}
