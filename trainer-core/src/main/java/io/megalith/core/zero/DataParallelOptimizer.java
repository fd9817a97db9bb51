package io.megalith.core.zero;

import io.megalith.comm.Communicator;
import io.megalith.comm.DirectBuffers;
import io.megalith.comm.ElementType;
import io.megalith.comm.Handle;
import io.megalith.comm.RankGroups;
import io.megalith.comm.ReduceOp;
import io.megalith.comm.Scalars;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.optim.AdamW;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.ScratchBuffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Gradient synchronisation and the optimizer step of a data-parallel rank with replicated parameters,
 * ZeRO stages 0 and 1 over the flat parameter buffer (stages 2 and 3: {@link PartitionedOptimizer}):
 *
 * <ul>
 *   <li>stage 0: every bucket of gradients is all-reduced; every rank runs AdamW on everything;
 *   <li>stage 1: gradients all-reduced; AdamW state is partitioned: each rank updates only its piece of
 *       every bucket ([partStart(len, r), partStart(len, r+1)) of it), then the pieces are all-gathered.
 * </ul>
 *
 * Buckets are launched asynchronously as soon as backward completes them ({@link #gradientsReady}), so
 * their communication overlaps the backward of earlier segments and the copying of later buckets.
 * Gradients are summed (each rank's loss already carries its share of the step's tokens), so the
 * update is that of the whole global batch. Global-norm clipping uses the norm over the full, reduced
 * gradient buffer: the same on every rank.
 *
 * <p>Only the store's trainable prefix [0, {@link ParameterStore#trainableElements()}) takes part: buckets, the
 * gradient buffer, the norm and the AdamW state cover it; frozen parameters (laid out after it) are never
 * communicated nor updated. A rank with nothing to train (a frozen pipeline stage) still joins the collectives of
 * the norm.
 */
public final class DataParallelOptimizer {
    private final Communicator dp;
    private final Communicator ep; // splits the experts (expert parallelism), or a group of one
    private final Communicator edp; // holds the same experts: their gradients are summed over it
    private final boolean expertParallel;
    private final List<Parameter> experts; // this rank's expert parameters
    private final List<Parameter> shared; // every other parameter
    private final boolean[] expertBucket; // per bucket: it holds expert parameters (reduced and sharded over edp)

    /** The group a bucket is reduced (and, ZeRO-1, partitioned) over: its experts' edp group, else dp. */
    private Communicator groupOf(int bucket) {
        return expertBucket[bucket] ? edp : dp;
    }

    /** Parameters of an MoE expert (a rank of an expert-parallel group holds only its own experts). */
    public static boolean isExpert(Parameter p) {
        return p.name().contains(".moe.experts.");
    }
    private final Communicator tp;
    private final Communicator pp;
    private final Communicator embedding;
    private final Parameter tied; // the token embedding held by first and last stage
    private final int stage;
    private final ParameterStore store;
    private final long trainable; // elements of the store's trainable prefix
    private final List<ParameterStore> replicas;
    private final List<GradientBuckets.Bucket> buckets;
    private final long[] pieceFrom;
    private final long[] pieceTo;
    private final int[] shardOffset;
    private final int shardSize;
    private final AdamW adam;
    private final ByteBuffer grads; // all gradients, reduced in place
    private final List<Handle> pending = new ArrayList<>();
    private final ScratchBuffer partialSums = new ScratchBuffer(); // TP: packed gradients of partial parameters
    private final boolean[] launched;
    private long commNanos;

    /**
     * @param replicas the stores whose gradients are summed locally first (worker threads); element 0 is
     *     {@code store}
     */
    public DataParallelOptimizer(ParameterStore store, List<ParameterStore> replicas, List<GradientBuckets.Bucket> buckets,
            Communicator dp, int stage, double beta1, double beta2, double eps, double weightDecay) {
        this(store, replicas, buckets, RankGroups.dataParallelOnly(dp), null, stage, beta1, beta2,
                eps, weightDecay);
    }

    /**
     * With a tensor-parallel group {@code tp}: gradients of replicated parameters that each rank sees only in
     * part (LayerNorms, positions, row-parallel biases) are summed over it, and the global norm counts every
     * slice once and every replica once.
     */
    public DataParallelOptimizer(ParameterStore store, List<ParameterStore> replicas, List<GradientBuckets.Bucket> buckets,
            RankGroups groups, Parameter tiedEmbedding, int stage, double beta1,
            double beta2, double eps, double weightDecay) {
        Communicator dp = groups.dataParallel();
        this.tp = groups.tensorParallel();
        this.pp = groups.pipeline();
        this.embedding = groups.embedding();
        // a frozen tied embedding has no gradient to sum (both stages freeze it: same name)
        this.tied = embedding != null && embedding.size() > 1 && tiedEmbedding != null && !tiedEmbedding.frozen()
                ? tiedEmbedding : null;
        if (stage < 0 || stage > 1) {
            throw new IllegalArgumentException("ZeRO stage " + stage + " is not handled here");
        }
        this.dp = dp;
        this.ep = groups.expertParallel();
        this.edp = groups.expertDataParallel();
        this.expertParallel = ep != null && ep.size() > 1;
        if (expertParallel && (tp.size() > 1 || pp.size() > 1)) {
            throw new IllegalArgumentException("expert parallelism runs with tp 1 and pp 1");
        }
        this.experts = store.trainableParameters().stream().filter(p -> isExpert(p)).toList();
        this.shared = store.trainableParameters().stream().filter(p -> !isExpert(p)).toList();
        this.expertBucket = new boolean[buckets.size()];
        if (expertParallel) {
            for (GradientBuckets.Bucket b : buckets) {
                boolean any = false;
                boolean all = true;
                for (Parameter p : store.trainableParameters()) {
                    if (p.offset() >= b.from() && p.offset() < b.to()) {
                        any |= isExpert(p);
                        all &= isExpert(p);
                    }
                }
                if (any && !all) {
                    throw new IllegalArgumentException("bucket " + b.index() + " mixes expert and other parameters: "
                            + "plan buckets split by GradientBuckets.plan(..., DataParallelOptimizer::isExpert)");
                }
                expertBucket[b.index()] = all;
            }
        }
        this.stage = stage;
        this.store = store;
        this.trainable = store.trainableElements();
        for (GradientBuckets.Bucket b : buckets) {
            if (b.to() > trainable) {
                throw new IllegalArgumentException("bucket " + b.index() + " ends at " + b.to() + ", past the "
                        + trainable + " trainable elements: plan buckets over the trainable parameters");
            }
        }
        this.replicas = List.copyOf(replicas);
        this.buckets = List.copyOf(buckets);
        int n = buckets.size();
        pieceFrom = new long[n];
        pieceTo = new long[n];
        shardOffset = new int[n];
        int shard = 0;
        for (GradientBuckets.Bucket b : buckets) {
            Communicator g = groupOf(b.index());
            pieceFrom[b.index()] = b.from() + g.partStart(b.size(), g.rank());
            pieceTo[b.index()] = b.from() + g.partStart(b.size(), g.rank() + 1);
            shardOffset[b.index()] = shard;
            shard += (int) (pieceTo[b.index()] - pieceFrom[b.index()]);
        }
        this.shardSize = shard;
        long[] decay = within(store.decayRanges(), trainable);
        this.adam = stage == 0
                ? new AdamW((int) trainable, decay, beta1, beta2, eps, weightDecay)
                : new AdamW(shardSize, shardDecayRanges(decay), beta1, beta2, eps, weightDecay);
        this.grads = direct(trainable);
        this.launched = new boolean[n];
    }

    /** The gradients of the last step (reduced, before clipping) by parameter name: for tests and debugging. */
    public Map<String, HostTensor> lastGradients() {
        return store.trainableSlices(floats(grads, 0, trainable), "");
    }

    /** Time the last step spent waiting for communication (not hidden behind backward), in nanoseconds. */
    public long commNanos() {
        return commNanos;
    }

    public int stage() {
        return stage;
    }

    public List<GradientBuckets.Bucket> buckets() {
        return buckets;
    }

    public AdamW optimizer() {
        return adam;
    }

    /** The state elements this rank holds: [from, to) ranges of the flat buffer, in state order. */
    public long[][] stateRanges() {
        if (stage == 0) {
            return new long[][] {{0, trainable}};
        }
        long[][] r = new long[buckets.size()][];
        for (int b = 0; b < r.length; b++) {
            r[b] = new long[] {pieceFrom[b], pieceTo[b]};
        }
        return r;
    }

    /** Bucket {@code b}'s gradients are complete: gather them from libtorch and start reducing them. */
    public void gradientsReady(int b) {
        GradientBuckets.Bucket bucket = buckets.get(b);
        if (launched[b]) {
            throw new IllegalStateException("bucket " + b + " launched twice in one step");
        }
        launched[b] = true;
        FloatBuffer dst = floats(grads, bucket.from(), bucket.to());
        for (int w = 0; w < replicas.size(); w++) {
            replicas.get(w).gradientsOfRange(bucket.from(), bucket.to(), dst, w > 0);
            replicas.get(w).releaseGradients(bucket.from(), bucket.to()); // copied: libtorch's are freed
        }
        Communicator g = groupOf(b);
        if (g.size() > 1) {
            pending.add(g.allReduceAsync(bytes(grads, bucket.from(), bucket.to()), ElementType.F32, ReduceOp.SUM));
        }
    }

    /**
     * Finishes the step: launches buckets not yet launched, waits for all communication, clips by the
     * global norm, updates (this rank's part of) the parameters and gathers them, zeroes the gradients.
     * Returns the global gradient norm before clipping.
     */
    public double step(double lr, double gradClip) {
        for (int b = 0; b < buckets.size(); b++) {
            if (!launched[b]) {
                gradientsReady(b);
            }
        }
        long waitStart = System.nanoTime();
        for (Handle h : pending) {
            h.await();
        }
        commNanos = System.nanoTime() - waitStart; // what the overlap did not hide
        pending.clear();
        Arrays.fill(launched, false);
        sumPartialGradientsOverTensorParallel();
        sumTiedEmbeddingOverStages();
        double norm = norm();
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1
        double clip = gradClip > 0 ? Math.min(1.0, gradClip / (norm + 1e-6)) : 1.0;
        FloatBuffer values = store.values();
        adam.beginStep();
        if (stage == 0) {
            adam.update(slice(values, 0, trainable), floats(grads, 0, trainable), 0, lr, clip);
        } else {
            for (int b = 0; b < buckets.size(); b++) {
                long len = pieceTo[b] - pieceFrom[b];
                if (len == 0) {
                    continue;
                }
                FloatBuffer g = floats(grads, pieceFrom[b], pieceTo[b]);
                adam.update(slice(values, pieceFrom[b], pieceTo[b]), g, shardOffset[b], lr, clip);
            }
            long gatherStart = System.nanoTime();
            gatherParameters();
            commNanos += System.nanoTime() - gatherStart;
        }
        return norm; // libtorch's gradients were freed bucket by bucket: nothing to zero

    }

    /** Frees the AdamW state; the optimizer must not be used afterwards. */
    public void close() {
        adam.close();
    }

    /** Every rank broadcasts its updated pieces: afterwards all ranks hold the same full parameters. */
    private void gatherParameters() {
        if (dp.size() == 1 && edp.size() == 1) {
            return;
        }
        ByteBuffer values = store.valueBytes();
        List<Handle> gathers = new ArrayList<>();
        for (GradientBuckets.Bucket b : buckets) {
            // in place: the input is this rank's own segment of the output (Communicator#allGather allows it)
            ByteBuffer mine = bytes(values, pieceFrom[b.index()], pieceTo[b.index()]);
            gathers.add(groupOf(b.index()).allGatherAsync(mine, bytes(values, b.from(), b.to()), ElementType.F32));
        }
        for (Handle h : gathers) {
            h.await();
        }
    }

    /**
     * The first and last pipeline stage each hold the token embedding (read by the embedding and by the tied
     * head): each has part of its gradient; summed over the two, both apply the same update.
     */
    private void sumTiedEmbeddingOverStages() {
        if (tied == null) {
            return;
        }
        embedding.allReduce(bytes(grads, tied.offset(), tied.offset() + tied.numel()), ElementType.F32, ReduceOp.SUM);
    }

    /** The gradients of PARTIAL parameters, summed over the tensor-parallel group in one all-reduce. */
    private void sumPartialGradientsOverTensorParallel() {
        if (tp.size() == 1) {
            return;
        }
        List<Parameter> partial = store.trainableParameters().stream()
                .filter(p -> p.sharding().kind() == Parameter.Sharding.Kind.PARTIAL).toList();
        long n = partial.stream().mapToLong(Parameter::numel).sum();
        if (n == 0) {
            return;
        }
        ByteBuffer packed = partialSums.floats(n);
        FloatBuffer f = packed.asFloatBuffer();
        for (Parameter p : partial) {
            f.put(floats(grads, p.offset(), p.offset() + p.numel()));
        }
        tp.allReduce(packed, ElementType.F32, ReduceOp.SUM);
        f = packed.asFloatBuffer();
        for (Parameter p : partial) {
            float[] v = new float[(int) p.numel()];
            f.get(v);
            floats(grads, p.offset(), p.offset() + p.numel()).put(v);
        }
    }

    /**
     * The norm of the one-rank model's gradient: with tensor parallelism, slices are summed over the group
     * and replicas counted once (their share 1/tp on each rank), in rank order, the same on every rank.
     */
    private double norm() {
        if (expertParallel) { // shared parameters are the same on every rank; each expert lives on one rank of ep
            double sharedSq = 0;
            for (Parameter p : shared) {
                double s = AdamW.l2Norm(floats(grads, p.offset(), p.offset() + p.numel()));
                sharedSq += s * s;
            }
            double expertSq = 0;
            for (Parameter p : experts) {
                double s = AdamW.l2Norm(floats(grads, p.offset(), p.offset() + p.numel()));
                expertSq += s * s;
            }
            return Math.sqrt(sharedSq + Scalars.sumInRankOrder(expertSq, ep));
        }
        if (tp.size() == 1 && pp.size() == 1) {
            return AdamW.l2Norm(floats(grads, 0, trainable));
        }
        double local = 0;
        for (Parameter p : store.trainableParameters()) {
            if (p == tied && pp.rank() == pp.size() - 1) {
                continue; // the tied embedding is counted on the first stage only
            }
            double s = AdamW.l2Norm(floats(grads, p.offset(), p.offset() + p.numel()));
            boolean replica = p.sharding().kind() != Parameter.Sharding.Kind.SLICE;
            local += replica ? s * s / tp.size() : s * s;
        }
        return Math.sqrt(Scalars.sumInRankOrder(Scalars.sumInRankOrder(local, tp), pp));
    }

    /**
     * The full AdamW state as named tensors ({@code exp_avg.<param>}, {@code exp_avg_sq.<param>}),
     * whatever the stage: with a partitioned state every rank contributes its pieces (a collective: all
     * ranks of the group call it), so a checkpoint does not depend on the layout it was saved with.
     */
    public Map<String, HostTensor> gatherState() {
        try (HostCopies copies = new HostCopies()) {
            copyState(p -> true, copies);
            return copies.onHeap();
        }
    }

    /**
     * Copies the AdamW moments ({@code exp_avg.<param>}, {@code exp_avg_sq.<param>}) of the trainable parameters
     * {@code which} selects into {@code out}, whole. With a partitioned state it is a collective (all ranks of the
     * group call it, each with its own selection): one bucket at a time is gathered into a scratch buffer of one
     * bucket's size, so a rank holds its selection and one bucket, never the whole state.
     */
    public void copyState(Predicate<Parameter> which, HostCopies out) {
        List<Parameter> trainable = store.trainableParameters();
        if (stage == 0) {
            for (String prefix : List.of("exp_avg.", "exp_avg_sq.")) {
                FloatBuffer state = prefix.equals("exp_avg.") ? adam.expAvg() : adam.expAvgSq();
                for (Parameter p : trainable) {
                    if (which.test(p)) {
                        out.put(prefix + p.name(), p.shape(), slice(state, p.offset(), p.offset() + p.numel()));
                    }
                }
            }
            return;
        }
        long largest = 0;
        for (GradientBuckets.Bucket b : buckets) {
            largest = Math.max(largest, b.size());
        }
        ByteBuffer scratch = direct(largest);
        try {
            for (String prefix : List.of("exp_avg.", "exp_avg_sq.")) {
                FloatBuffer state = prefix.equals("exp_avg.") ? adam.expAvg() : adam.expAvgSq();
                for (GradientBuckets.Bucket b : buckets) {
                    int len = (int) (pieceTo[b.index()] - pieceFrom[b.index()]);
                    ByteBuffer mine = bytes(scratch, pieceFrom[b.index()] - b.from(), pieceTo[b.index()] - b.from());
                    mine.asFloatBuffer().put(state.slice(shardOffset[b.index()], len));
                    ByteBuffer bucket = bytes(scratch, 0, b.size());
                    groupOf(b.index()).allGather(mine, bucket, ElementType.F32);
                    FloatBuffer values = bucket.asFloatBuffer();
                    for (Parameter p : trainable) {
                        if (p.offset() >= b.from() && p.offset() < b.to() && which.test(p)) {
                            out.put(prefix + p.name(), p.shape(),
                                    slice(values, p.offset() - b.from(), p.offset() - b.from() + p.numel()));
                        }
                    }
                }
            }
        } finally {
            DirectBuffers.free(scratch);
        }
    }

    /**
     * Restores the AdamW state from full named tensors (see {@link #gatherState}) and the step count; only the
     * trainable parameters' moments are read (a checkpoint of another freezing may hold more).
     */
    public void loadState(Map<String, HostTensor> tensors, long stepCount) {
        loadInto(tensors, "exp_avg.", adam.expAvg());
        loadInto(tensors, "exp_avg_sq.", adam.expAvgSq());
        adam.setStepCount(stepCount);
    }

    private void loadInto(Map<String, HostTensor> tensors, String prefix, FloatBuffer state) {
        float[] all = new float[(int) trainable];
        store.loadTrainableSlices(FloatBuffer.wrap(all), prefix, tensors);
        if (stage == 0) {
            state.put(0, all, 0, all.length);
            return;
        }
        for (GradientBuckets.Bucket b : buckets) {
            int len = (int) (pieceTo[b.index()] - pieceFrom[b.index()]);
            state.put(shardOffset[b.index()], all, (int) pieceFrom[b.index()], len);
        }
    }

    /**
     * Bytes this rank holds between steps for parameters, gradients (Megalith's buffer; libtorch's .grad tensors
     * are freed once copied into it) and AdamW state.
     */
    public long[] memoryBytes() {
        long params = store.numel() * 4;
        long libtorchGrads = 0;
        long gradBuffers = grads.capacity();
        long optimizer = 2L * 4 * (stage == 0 ? trainable : shardSize);
        return new long[] {params, libtorchGrads + gradBuffers, optimizer, partialSums.capacity()};
    }

    /** Bytes of this optimizer's own buffers (not tensors): the gradient buffer, AdamW moments, TP staging. */
    public long hostBytes() {
        return grads.capacity() + 2L * 4 * adam.size() + partialSums.capacity();
    }

    private long[] shardDecayRanges(long[] decay) {
        ShardRanges out = new ShardRanges();
        for (int b = 0; b < buckets.size(); b++) {
            for (int r = 0; r < decay.length; r += 2) {
                long a = Math.max(decay[r], pieceFrom[b]);
                long e = Math.min(decay[r + 1], pieceTo[b]);
                if (a < e) {
                    out.add(shardOffset[b] + (a - pieceFrom[b]), shardOffset[b] + (e - pieceFrom[b]));
                }
            }
        }
        return out.toArray();
    }

    /** The ranges {from, to, ...} clipped to [0, end). */
    private static long[] within(long[] ranges, long end) {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < ranges.length; i += 2) {
            if (ranges[i] < end) {
                out.add(ranges[i]);
                out.add(Math.min(ranges[i + 1], end));
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    private static ByteBuffer direct(long floats) {
        return ByteBuffer.allocateDirect((int) (floats * 4)).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Elements [from, to) of a float32 byte buffer, as bytes. */
    private static ByteBuffer bytes(ByteBuffer buf, long from, long to) {
        return buf.duplicate().position((int) from * 4).limit((int) to * 4).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static FloatBuffer floats(ByteBuffer buf, long from, long to) {
        return bytes(buf, from, to).asFloatBuffer();
    }

    private static FloatBuffer slice(FloatBuffer buf, long from, long to) {
        return buf.duplicate().position((int) from).limit((int) to).slice();
    }
}
