package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.Scalars;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.moe.MoeContext;
import io.megalith.core.moe.MoeStats;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.optim.AdamW;
import io.megalith.core.optim.LrSchedule;
import io.megalith.core.pipeline.PipelineExecutor;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensorparallel.TensorParallelState;
import io.megalith.core.zero.DataParallelOptimizer;
import io.megalith.core.zero.GradientBuckets;
import io.megalith.core.zero.PartitionedOptimizer;
import io.megalith.core.zero.PartitionedParameters;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * What one rank computes for one optimizer step, whichever model it trains ({@link PartSource}: the GPT, BERT, the
 * encoder-decoder): forward and backward over the step's micro-batches (gradients accumulate in libtorch), gradients
 * summed over the data-parallel group, global-norm clipping, and the fused AdamW update.
 *
 * <p>Data parallel: the rank computes rows [partStart(B, r), partStart(B, r+1)) of every micro-batch of B rows. Every
 * part's loss is weighted by its share of the scored targets of the whole step, so the step's loss and gradient are
 * those of the mean over all of them however the batch is cut; dropout is keyed by (seed, step, global row), so it
 * does not depend on the layout either. Tensor parallel: segment outputs and input gradients are summed over the
 * group at segment boundaries, as are the gradients of replicated parameters. Pipeline parallel (models with stages):
 * the stage's part runs under {@code parallel.schedule}. ZeRO 0/1 keep replicated parameters
 * ({@link DataParallelOptimizer}), 2/3 partition them ({@link PartitionedOptimizer}).
 *
 * <p>With {@code runtime.workers} > 1 (models with replicas) each rank's rows are split across worker threads, each
 * running a replica whose parameters are views of the same flat buffer and which accumulates its own gradients
 * (summed in a fixed order, so results are deterministic).
 *
 * <p>Fine-tuning: parameters frozen ({@link Parameter#freeze()}) before {@link #createParameters} get no gradient, no
 * bucket, no AdamW state and no place in the norm; ZeRO 0/1 lay them out after the trainable ones, ZeRO 2/3 keep them
 * replicated beside the partitioned ones. A pipeline stage with nothing to train still runs forward and backward for
 * its neighbours; a model with nothing to train is refused.
 */
public final class Trainer implements ShardedCheckpointer.Source, AutoCloseable {
    private final MegalithConfig.Train cfg;
    private final PartSource source;
    private final ModelParameters params;
    private final ParameterStore store; // replicated storage (ZeRO 0/1), else null
    private final List<PartSource> replicas = new ArrayList<>(); // worker replicas; element 0 is source
    private final List<ParameterStore> replicaStores = new ArrayList<>();
    private final DataParallelOptimizer optimizer; // ZeRO 0/1, else null
    private final PartitionedOptimizer partitioned; // ZeRO 2/3, else null
    private final LrSchedule schedule;
    private final NDManager manager;
    private final RankGroups groups;
    private final Communicator dataParallel;
    private final Communicator tensorParallel;
    private final PipelineExecutor pipeline; // pipeline parallelism, else null
    private final long dropoutKey;
    private final WorkerPool workers; // runtime.workers > 1, else null
    private final List<GradientBuckets.Bucket> buckets;
    private double lastBubble;
    private MoeStats moeStats; // this step's routing statistics (MoE models), else null

    /** Result of one optimizer step. */
    public record StepStats(long step, double loss, double lr, double gradNorm, long tokens, double commMs) {}

    /**
     * Storage for the parameters of {@code plan} (a rank's segments) as {@code config}'s ZeRO stage wants it:
     * replicated and laid out in backward order (stages 0, 1), or partitioned over the data-parallel group (stage 2
     * in buckets, stage 3 one layer per group, as it gathers them). With expert parallelism, ZeRO-2 groups never mix
     * expert and other parameters, and expert groups are partitioned over the expert-data-parallel group.
     */
    public static ModelParameters createParameters(MegalithConfig config, List<Segment> plan, NDManager manager,
            RankGroups groups) {
        Communicator dataParallel = groups.dataParallel();
        boolean ep = groups.expertParallel().size() > 1;
        List<Parameter> layout = GradientBuckets.backwardOrder(plan);
        if (config.zero().stage() < 2) {
            return new ParameterStore(layout, manager, config.seed()); // frozen parameters go after the trainable ones
        }
        // only the trainable parameters are partitioned (frozen ones stay replicated, see PartitionedParameters)
        List<Parameter> trainable = layout.stream().filter(p -> !p.frozen()).toList();
        long offset = 0;
        for (Parameter p : trainable) {
            p.place(offset);
            offset += p.numel();
        }
        boolean perLayer = config.zero().stage() == 3;
        long bucket = perLayer ? Long.MAX_VALUE : bucketElements(config);
        long[] ends = GradientBuckets.plan(plan, trainable, bucket, perLayer, ep ? DataParallelOptimizer::isExpert : null)
                .stream().mapToLong(GradientBuckets.Bucket::to).toArray();
        return ep ? new PartitionedParameters(layout, ends, dataParallel, groups.expertDataParallel(),
                DataParallelOptimizer::isExpert, manager, config.seed())
                : new PartitionedParameters(layout, ends, dataParallel, manager, config.seed());
    }

    private static long bucketElements(MegalithConfig config) {
        return Math.max(1, (long) (config.parallel().gradBucketMib() * (1 << 20) / 4));
    }

    /**
     * A rank of {@code groups} training {@code source} (this rank's part of the model by its plan), whose parameters
     * {@code params} hold ({@link #createParameters} over the source's plan).
     */
    public Trainer(MegalithConfig config, PartSource source, ModelParameters params, NDManager manager,
            RankGroups groups) {
        this.groups = groups;
        this.dataParallel = groups.dataParallel();
        this.tensorParallel = groups.tensorParallel();
        this.pipeline = groups.pipeline().size() > 1
                ? new PipelineExecutor(config.parallel().schedule(), groups.pipeline(), manager) : null;
        this.cfg = config.train();
        this.source = source;
        this.params = params;
        this.store = params instanceof ParameterStore ps ? ps : null;
        this.manager = manager;
        this.schedule = new LrSchedule(cfg.lr(), cfg.minLr(), cfg.warmupSteps(), cfg.decayEnd());
        this.dropoutKey = CounterRng.key(config.seed(), "dropout");
        // a model without worker replicas runs its micro-batches on this thread
        int n = source.hasReplicas() ? Math.max(1, config.runtime().workers()) : 1;
        replicas.add(source);
        if (store != null) {
            replicaStores.add(store);
        } else if (n > 1) {
            throw new IllegalArgumentException("runtime.workers > 1 needs replicated parameters (zero.stage 0 or 1)");
        }
        if (groups.expertParallel().size() > 1 && n > 1) {
            throw new IllegalArgumentException("expert parallelism runs with runtime.workers 1");
        }
        if ((tensorParallel.size() > 1 || groups.pipeline().size() > 1) && (n > 1 || store == null)) {
            throw new IllegalArgumentException("tensor and pipeline parallelism run with runtime.workers 1 and zero.stage "
                    + "0 or 1");
        }
        long trainable = store != null ? store.trainableElements() : ((PartitionedParameters) params).trainableElements();
        if (trainable == 0 && groups.pipeline().size() == 1 && groups.expertParallel().size() == 1) {
            // a pipeline stage may have nothing to train (it still passes gradients on); a whole model may not
            throw new IllegalArgumentException("every parameter is frozen: nothing to train");
        }
        for (int i = 1; i < n; i++) {
            PartSource.Replica replica = source.replica(store, manager);
            replicas.add(replica.source());
            replicaStores.add(replica.store());
        }
        List<Segment> plan = source.plan();
        if (store != null) {
            this.buckets = groups.expertParallel().size() > 1
                    // expert buckets are reduced over the expert-data-parallel group: never mixed with others
                    ? GradientBuckets.plan(plan, store.trainableParameters(), bucketElements(config), false,
                            DataParallelOptimizer::isExpert)
                    : GradientBuckets.plan(plan, store, bucketElements(config));
            this.optimizer = new DataParallelOptimizer(store, replicaStores, buckets, groups, source.tiedEmbedding(),
                    config.zero().stage(), cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay());
            this.partitioned = null;
        } else {
            this.buckets = List.of();
            this.optimizer = null;
            this.partitioned = new PartitionedOptimizer((PartitionedParameters) params, plan, dataParallel,
                    config.zero().stage(), cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay());
        }
        this.workers = n > 1 ? new WorkerPool(config, n) : null;
    }

    /** The {@code train} settings it steps with. */
    public MegalithConfig.Train settings() {
        return cfg;
    }

    /** The manager its parameters and step tensors live under. */
    public NDManager manager() {
        return manager;
    }

    public AdamW optimizer() {
        return optimizer != null ? optimizer.optimizer() : partitioned.optimizer();
    }

    /** How many optimizer steps AdamW has taken (its bias correction; the checkpoint records it). */
    public long optimizerSteps() {
        return optimizer().stepCount();
    }

    /** The parameters' storage (replicated or partitioned). */
    @Override
    public ModelParameters parameters() {
        return params;
    }

    @Override
    public void copyOptimizerState(Predicate<Parameter> which, HostCopies out) {
        if (optimizer != null) {
            optimizer.copyState(which, out);
        } else {
            partitioned.copyState(which, out);
        }
    }

    /**
     * ZeRO-2/3: copies a state the caller keeps like AdamW's moments, one float per element of this rank's shard
     * ({@code shard}: {@link PartitionedParameters#shardSize()} floats in shard order), as whole tensors
     * {@code <prefix><param>} of the parameters {@code which} selects: a collective over dp, one group at a time.
     */
    public void copyShardState(String prefix, FloatBuffer shard, Predicate<Parameter> which, HostCopies out) {
        partitioned().copyShardState(prefix, shard, which, out);
    }

    /** ZeRO-2/3: takes this rank's pieces of whole tensors {@code <prefix><param>} into {@code shard} (no collective). */
    public void loadShardState(Map<String, HostTensor> tensors, String prefix, FloatBuffer shard) {
        partitioned().loadShardState(tensors, prefix, shard);
    }

    private PartitionedOptimizer partitioned() {
        if (partitioned == null) {
            throw new IllegalStateException("shard-shaped state needs partitioned parameters (zero.stage 2 or 3)");
        }
        return partitioned;
    }

    /** Full AdamW state by name, whatever the layout (a collective over every group). */
    public Map<String, HostTensor> gatherOptimizerState() {
        Map<String, HostTensor> local = acrossExperts(optimizer != null ? optimizer.gatherState()
                : partitioned.gatherState());
        return acrossStages(GroupGathers.gatherMoments(local, params.parameters(), tensorParallel));
    }

    private Map<String, HostTensor> acrossStages(Map<String, HostTensor> mine) {
        return GroupGathers.acrossGroup(mine, groups.pipeline());
    }

    /** Every expert-parallel rank's tensors (each holds its experts), on every rank of the expert-parallel group. */
    private Map<String, HostTensor> acrossExperts(Map<String, HostTensor> mine) {
        return GroupGathers.acrossGroup(mine, groups.expertParallel());
    }

    /** Restores the optimizer state from full (one-rank) tensors: this rank takes its slices. */
    @Override
    public void loadOptimizerState(Map<String, HostTensor> tensors, long stepCount) {
        Map<String, HostTensor> local = GroupGathers.sliceMoments(tensors, params.parameters(), tensorParallel);
        if (optimizer != null) {
            optimizer.loadState(local, stepCount);
        } else {
            partitioned.loadState(local, stepCount);
        }
    }

    /** The one-rank model's parameters by name (a collective under tensor/pipeline/expert parallelism and ZeRO-3). */
    public Map<String, HostTensor> fullParameters() {
        return acrossStages(acrossExperts(TensorParallelState.gather(params.toHost(), params.parameters(), tensorParallel,
                "")));
    }

    /**
     * The one-rank model's gradients of the last step (summed over every group, before clipping), by name: a
     * collective like {@link #fullParameters()}. Replicated ZeRO 0/1 storage only; trainable parameters only.
     */
    public Map<String, HostTensor> fullGradients() {
        return acrossStages(acrossExperts(TensorParallelState.gather(optimizer.lastGradients(), params.parameters(),
                tensorParallel, "")));
    }

    /** Sets every parameter from the one-rank model's tensors (this rank takes its slices). */
    @Override
    public void loadFullParameters(Map<String, HostTensor> full) {
        params.load(tensorParallel.size() > 1 ? TensorParallelState.slice(full, params.parameters(), "") : full);
    }

    /** Bytes this rank holds for parameters, gradients and optimizer state. */
    public long[] memoryBytes() {
        return optimizer != null ? optimizer.memoryBytes() : partitioned.memoryBytes();
    }

    /**
     * What this rank holds, measured (not what the code means to keep): native tensor bytes alive under its manager
     * (parameters, views, libtorch's gradients, constants) plus its optimizer's own buffers (gradient buffer or
     * pieces, AdamW moments, shard, staging). Between steps it is the steady state; see docs/BENCHMARKS.md.
     */
    public long[] heldBytes() {
        long host = optimizer != null ? optimizer.hostBytes() : partitioned.hostBytes();
        return new long[] {Memory.liveTensorBytes(manager), host};
    }

    /** Whether the model is split over ranks (tensor, pipeline or expert parallelism): no rank holds all of it. */
    public boolean splitsModel() {
        return tensorParallel.size() > 1 || groups.pipeline().size() > 1 || groups.expertParallel().size() > 1;
    }

    /**
     * Runs {@code work} with every parameter of this rank available (ZeRO-3 gathers them all, then restores the
     * partitioned state), for evaluation or sampling on this rank's model. A collective under ZeRO-3.
     */
    public <T> T withAllParameters(Supplier<T> work) {
        if (partitioned == null || partitioned.stage() < 3) {
            return work.get();
        }
        partitioned.materialiseAll();
        try {
            return work.get();
        } finally {
            partitioned.releaseAll();
        }
    }

    /**
     * Optimizer step {@code step} (0-based: the step-th update) over {@code train.grad_accum} micro-batches of
     * {@code train.batch_size} rows: micro-batch m is rows [m*B, (m+1)*B) of the step's global batch, of which this
     * data-parallel rank computes its rows.
     */
    public StepStats step(long step) {
        int b = cfg.batchSize();
        int accum = cfg.gradAccum();
        int from = (int) dataParallel.partStart(b, dataParallel.rank());
        int rows = (int) dataParallel.partStart(b, dataParallel.rank() + 1) - from;
        Part[] parts = new Part[accum];
        long[] counts = new long[2]; // scored targets, input tokens of the whole step
        for (int m = 0; m < accum; m++) {
            parts[m] = rows > 0 ? source.part(step, m * b + from, rows) : null;
            counts[0] += parts[m] == null ? 0 : parts[m].scored();
            counts[1] += parts[m] == null ? 0 : parts[m].tokens();
        }
        long commNanos = 0;
        if (dataParallel.size() > 1) {
            long t0 = System.nanoTime();
            // each part's loss is weighted by its share of the step's scored targets: the total is global
            Scalars.sum(counts, dataParallel);
            commNanos += System.nanoTime() - t0;
        }
        long stepKey = CounterRng.key(dropoutKey, step);
        moeStats = source.newMoeStats();
        double loss;
        if (pipeline != null) {
            PipelineExecutor.Result result = pipelined(parts, from, stepKey, counts[0]);
            loss = result.loss(); // already shared with every stage
            commNanos += result.commNanos();
        } else {
            loss = 0;
            for (int m = 0; m < accum; m++) {
                // the last micro-batch starts reducing each bucket as soon as backward completes it
                SegmentedPass.Hooks hooks = partitioned != null ? partitioned.hooks()
                        : m == accum - 1 && dataParallel.size() > 1 && replicas.size() == 1 ? overlapHooks()
                        : SegmentedPass.NO_HOOKS;
                if (parts[m] != null) {
                    loss += forwardBackward(parts[m], m * b + from, stepKey, counts[0], hooks);
                }
            }
        }
        if (dataParallel.size() > 1) {
            long t0 = System.nanoTime();
            loss = Scalars.sumInRankOrder(new double[] {loss}, dataParallel)[0];
            commNanos += System.nanoTime() - t0;
        }
        commNanos += finishMoeStats();
        double lr = schedule.at(step);
        double norm = optimizer != null ? optimizer.step(lr, cfg.gradClip()) : partitioned.step(lr, cfg.gradClip());
        commNanos += optimizer != null ? optimizer.commNanos() : partitioned.commNanos();
        return new StepStats(step, loss, lr, norm, counts[1], commNanos / 1e6);
    }

    /** The step on a pipeline stage: the {@link PipelineExecutor} runs the step's parts under the schedule. */
    private PipelineExecutor.Result pipelined(Part[] parts, int from, long stepKey, long stepScored) {
        int b = cfg.batchSize();
        int accum = parts.length;
        SegmentedPass.Recompute recompute = SegmentedPass.Recompute.of(cfg.activationCheckpointing());
        PipelineExecutor.Result result = pipeline.run(accum, parts[0].stageActivation(), (m, mm) -> {
            ForwardContext ctx = new ForwardContext(true, stepKey, m * b + from, mm).withMoe(moeContext());
            SegmentedPass.Hooks hooks = m == accum - 1 && dataParallel.size() > 1 ? overlapHooks()
                    : SegmentedPass.NO_HOOKS;
            return parts[m].stage(ctx, stepScored, hooks, recompute, tensorParallel);
        });
        lastBubble = result.bubble();
        if (moeStats != null) { // every stage's MoE layers, then every data-parallel rank's tokens
            moeStats.fromArray(Scalars.sumInRankOrder(moeStats.toArray(), groups.pipeline()));
        }
        return result;
    }

    /** A forward pass's sink for auxiliary losses: one sequence weighs 1 / (sequences in the step). */
    private MoeContext moeContext() {
        return moeStats == null ? null
                : new MoeContext(1.0 / ((long) cfg.batchSize() * cfg.gradAccum()), moeStats);
    }

    /** Sums the step's routing statistics over the data-parallel group; returns the nanoseconds it took. */
    private long finishMoeStats() {
        if (moeStats == null || dataParallel.size() == 1) {
            return 0;
        }
        long t0 = System.nanoTime();
        moeStats.fromArray(Scalars.sumInRankOrder(moeStats.toArray(), dataParallel));
        return System.nanoTime() - t0;
    }

    /** Routing statistics of the last step summed over all ranks (MoE models), else null. */
    public MoeStats moeStats() {
        return moeStats;
    }

    /** Fraction of the last pipelined step this stage spent waiting for its neighbours (0 without pipelining). */
    public double bubble() {
        return pipeline != null ? lastBubble : 0;
    }

    /** Hooks that hand each gradient bucket to the optimizer when its last segment's backward is done. */
    private SegmentedPass.Hooks overlapHooks() {
        return new SegmentedPass.Hooks() {
            @Override
            public void afterBackward(int segment) {
                for (GradientBuckets.Bucket bucket : buckets) {
                    if (bucket.readySegment() == segment) {
                        optimizer.gradientsReady(bucket.index());
                    }
                }
            }
        };
    }

    /**
     * Forward and backward of {@code part} (its first row is global row {@code firstRow}), its rows split across the
     * workers; returns its weighted loss, the step having {@code stepScored} scored targets.
     */
    private double forwardBackward(Part part, long firstRow, long stepKey, long stepScored, SegmentedPass.Hooks hooks) {
        int n = replicas.size();
        if (n == 1) {
            return run(part, firstRow, stepKey, stepScored, hooks);
        }
        List<Callable<Double>> pieces = new ArrayList<>();
        for (int w = 0; w < n; w++) {
            int from = (int) ((long) part.rows() * w / n);
            int to = (int) ((long) part.rows() * (w + 1) / n);
            Part piece = from == to ? null : replicas.get(w).rowsOf(part, from, to);
            pieces.add(() -> piece == null ? 0.0 : run(piece, firstRow + from, stepKey, stepScored,
                    SegmentedPass.NO_HOOKS));
        }
        return workers.sum(pieces);
    }

    /** One part's forward and backward in a scope of its own. */
    private double run(Part part, long firstRow, long stepKey, long stepScored, SegmentedPass.Hooks hooks) {
        SegmentedPass.Recompute asked = SegmentedPass.Recompute.of(cfg.activationCheckpointing());
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            ForwardContext ctx = new ForwardContext(true, stepKey, firstRow, m).withMoe(moeContext());
            long stepRows = (long) cfg.batchSize() * cfg.gradAccum(); // every row of the step is in some rank's part
            return part.run(ctx, stepScored, stepRows, hooks,
                    partitioned != null ? partitioned.recompute(asked) : asked, tensorParallel);
        }
    }

    @Override
    public void close() {
        if (optimizer != null) {
            optimizer.close();
        }
        if (partitioned != null) {
            partitioned.close();
        }
        if (workers != null) {
            workers.close();
        }
        for (int w = 1; w < replicaStores.size(); w++) {
            replicaStores.get(w).close();
        }
    }
}
