package io.megalith.core.nn;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Ops;

/**
 * What a forward pass needs besides its inputs: whether it trains (dropout on), the random key of
 * the step, the global index of the first sample in this pass's batch, and a manager for tensors the
 * pass creates from host data.
 *
 * <p>Dropout masks come from {@link CounterRng} keyed by (step key, site name, global sample index),
 * not from libtorch's global generator: a sample gets the same mask however the global batch is cut
 * into micro-batches, worker threads or data-parallel ranks, with any thread count, after a resume.
 */
public final class ForwardContext {
    private final boolean training;
    private final long key;
    private final long firstSample;
    private final NDManager manager;
    private Float reportedLoss;

    public ForwardContext(boolean training, long key, long firstSample, NDManager manager) {
        this.training = training;
        this.key = key;
        this.firstSample = firstSample;
        this.manager = manager;
    }

    public ForwardContext(boolean training, long key, NDManager manager) {
        this(training, key, 0, manager);
    }

    public static ForwardContext inference(NDManager manager) {
        return new ForwardContext(false, 0, manager);
    }

    public boolean training() {
        return training;
    }

    public NDManager manager() {
        return manager;
    }

    /**
     * A segment whose output is not the loss itself (e.g. a vocab-parallel surrogate whose gradient is the
     * loss's) reports the loss value here.
     */
    public void reportLoss(float loss) {
        this.reportedLoss = loss;
    }

    public Float reportedLoss() {
        return reportedLoss;
    }

    private AuxiliaryLosses moe;

    /**
     * Where MoE layers put their auxiliary losses (and, in {@code moe.MoeContext}, their routing statistics; training
     * only); null: nowhere.
     */
    public AuxiliaryLosses moe() {
        return moe;
    }

    public ForwardContext withMoe(AuxiliaryLosses moe) {
        this.moe = moe;
        return this;
    }

    /**
     * Inverted dropout on x, whose leading dimension is the batch: zero each element with probability
     * p, scale the rest by 1/(1-p).
     */
    public PtNDArray dropout(PtNDArray x, double p, String site) {
        return dropout(x, p, site, 0);
    }

    /**
     * Dropout on a slice of a larger tensor: element j of a row of x is element {@code rowOffset + j} of the
     * same row of the full tensor (e.g. this tensor-parallel rank's attention heads), so the mask is the one
     * the one-rank model draws there.
     */
    public PtNDArray dropout(PtNDArray x, double p, String site, long rowOffset) {
        if (!training || p <= 0) {
            return x;
        }
        long[] shape = x.getShape().getShape();
        int n = (int) x.getShape().size();
        int rows = (int) shape[0];
        int perRow = n / rows;
        float keep = (float) (1.0 / (1.0 - p));
        long siteKey = CounterRng.key(key, site);
        float[] mask = new float[n];
        for (int r = 0; r < rows; r++) {
            long rowKey = CounterRng.key(siteKey, firstSample + r);
            for (int j = 0; j < perRow; j++) {
                mask[r * perRow + j] = CounterRng.uniform(rowKey, rowOffset + j) >= p ? keep : 0f;
            }
        }
        return Ops.mul(x, Ops.floats(manager, mask, shape));
    }
}
