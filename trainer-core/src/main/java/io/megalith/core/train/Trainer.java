package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.Scalars;
import io.megalith.core.checkpoint.Safetensors;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TrainingData;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.Targets;
import io.megalith.core.moe.MoeContext;
import io.megalith.core.moe.MoeMlp;
import io.megalith.core.moe.MoeStats;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensorparallel.TensorParallelState;
import io.megalith.core.zero.DataParallelOptimizer;
import io.megalith.core.zero.GradientBuckets;
import io.megalith.core.zero.PartitionedOptimizer;
import io.megalith.core.zero.PartitionedParameters;
import java.util.Map;
import java.util.function.Predicate;
import io.megalith.core.optim.AdamW;
import io.megalith.core.optim.LrSchedule;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.pipeline.PipelineExecutor;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.TensorParallelState;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * What one rank computes for one optimizer step: forward and backward over the step's micro-batches
 * (gradients accumulate in libtorch), gradients summed once into a flat buffer, global-norm
 * clipping, and the fused AdamW update in place on the flat parameter buffer.
 *
 * <p>With {@code runtime.workers} > 1 each micro-batch is split across worker threads, each running
 * a replica of the model whose parameters are views of the same flat buffer and which accumulates
 * its own gradients (summed in a fixed order, so results are deterministic). Small matrices scale
 * better this way than by splitting every matmul across libtorch's threads.
 *
 * <p>Every loss is weighted by its share of the scored tokens of the whole step, so the step's loss
 * and gradient are those of the mean over all its tokens however the batch is cut.
 *
 * <p>Fine-tuning: parameters frozen ({@link Parameter#freeze()}) before
 * {@link #createParameters} get no gradient, no bucket, no AdamW state and no place in the norm; ZeRO 0/1 lay
 * them out after the trainable ones, ZeRO 2/3 keep them replicated beside the partitioned ones. A pipeline stage
 * with nothing to train still runs forward and backward for its neighbours; a model with nothing to train is
 * refused.
 */
public final class Trainer implements RunTrainer {
    private final MegalithConfig.Train cfg;
    private final ParallelGpt parallel; // this rank's part of the model, as segment chains
    private final ModelParameters params;
    private final ParameterStore store; // replicated storage (ZeRO 0/1), else null
    private final List<ParallelGpt> replicas = new ArrayList<>();
    private final List<ParameterStore> replicaStores = new ArrayList<>();
    private final DataParallelOptimizer optimizer; // ZeRO 0/1, else null
    private final PartitionedOptimizer partitioned; // ZeRO 2/3, else null
    private final LrSchedule schedule;
    private final TrainingData data;
    private final NDManager manager;

    private final Communicator dataParallel;
    private final Communicator tensorParallel;
    private final RankGroups groups;
    private final PipelineExecutor pipeline; // pipeline parallelism, else null
    private final long dropoutKey;
    private final ExecutorService workers;
    private final List<GradientBuckets.Bucket> buckets;

    /** Result of one optimizer step. */
    public record StepStats(long step, double loss, double lr, double gradNorm, long tokens, double commMs) {}

    /** As below for the whole one-rank model {@code model}. */
    public static ModelParameters createParameters(MegalithConfig config, Gpt model, NDManager manager,
            Communicator dataParallel) {
        return createParameters(config, GptPlan.apply(model, Placement.SINGLE), manager, dataParallel);
    }

    /**
     * Storage for {@code model}'s parameters as {@code config}'s ZeRO stage wants it: replicated and laid out in
     * backward order (stages 0, 1), or partitioned over {@code dataParallel} (stage 2 in buckets, stage 3 one
     * layer per group, as it gathers them).
     */
    public static ModelParameters createParameters(MegalithConfig config, ParallelGpt model, NDManager manager,
            Communicator dataParallel) {
        return createParameters(config, model, manager, RankGroups.dataParallelOnly(dataParallel));
    }

    /**
     * As above for a rank of {@code groups}: with expert parallelism, ZeRO-2 groups never mix expert and other
     * parameters, and expert groups are partitioned over the expert-data-parallel group.
     */
    public static ModelParameters createParameters(MegalithConfig config, ParallelGpt model, NDManager manager,
            RankGroups groups) {
        Communicator dataParallel = groups.dataParallel();
        boolean ep = groups.expertParallel().size() > 1;
        List<Segment> plan = model.segments(null);
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
     * A rank of {@code groups}: {@code model} is the plan's part for this rank ({@code GptPlan.apply}; the whole model
     * under {@code Placement.SINGLE}). Data parallel: the rank computes its share of every micro-batch (rows
     * [partStart(B, r), partStart(B, r+1))) and gradients and losses are summed over the group, so every rank applies
     * the update of the whole global batch. Tensor parallel: segment outputs and input gradients are summed over the
     * group, as are the gradients of replicated parameters; its ranks read the same samples. Pipeline parallel: the
     * stage's part runs under {@code parallel.schedule} over the step's micro-batches.
     */
    public Trainer(MegalithConfig config, ParallelGpt model, ModelParameters params, TrainingData data,
            NDManager manager, RankGroups groups) {
        this.groups = groups;
        this.dataParallel = groups.dataParallel();
        this.tensorParallel = groups.tensorParallel();
        this.pipeline = groups.pipeline().size() > 1
                ? new PipelineExecutor(config.parallel().schedule(), groups.pipeline(), manager) : null;
        this.cfg = config.train();
        this.parallel = model;
        this.params = params;
        this.store = params instanceof ParameterStore ps ? ps : null;
        this.data = data;
        this.manager = manager;
        this.schedule = new LrSchedule(cfg.lr(), cfg.minLr(), cfg.warmupSteps(), cfg.decayEnd());
        this.dropoutKey = CounterRng.key(config.seed(), "dropout");
        int n = Math.max(1, config.runtime().workers());
        replicas.add(parallel);
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
            Gpt whole = new Gpt(parallel.model().config(), parallel.model().lora());
            ParallelGpt replica = GptPlan.apply(whole, Placement.SINGLE);
            replicaStores.add(new ParameterStore(replica.model(), store));
            replica.initConstants(manager);
            replicas.add(replica);
        }
        if (store != null) {
            this.buckets = groups.expertParallel().size() > 1
                    // expert buckets are reduced over the expert-data-parallel group: never mixed with others
                    ? GradientBuckets.plan(model.segments(null), store.trainableParameters(), bucketElements(config),
                            false, DataParallelOptimizer::isExpert)
                    : GradientBuckets.plan(model.segments(null), store, bucketElements(config));
            this.optimizer = new DataParallelOptimizer(store, replicaStores, buckets, groups,
                    parallel.model().tokenEmbedding(), config.zero().stage(), cfg.beta1(), cfg.beta2(), cfg.eps(),
                    cfg.weightDecay());
            this.partitioned = null;
        } else {
            this.buckets = List.of();
            this.optimizer = null;
            this.partitioned = new PartitionedOptimizer((PartitionedParameters) params, model.segments(null), dataParallel,
                    config.zero().stage(), cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay());
        }
        int threads = config.runtime().threads() > 0 ? config.runtime().threads() : Torch.threads();
        int threadsPerWorker = Math.max(1, threads / n);
        if (n > 1) {
            // The calling thread must not keep an OpenMP team of its own: its idle threads spin for
            // milliseconds after every parallel region and take the cores the workers need.
            JniUtils.setNumThreads(threadsPerWorker);
        }
        this.workers = n == 1 ? null : Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(() -> {
                JniUtils.setNumThreads(threadsPerWorker);
                r.run();
            }, "megalith-worker");
            t.setDaemon(true);
            return t;
        });
    }

    public AdamW optimizer() {
        return optimizer != null ? optimizer.optimizer() : partitioned.optimizer();
    }

    @Override
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

    /** Full AdamW state by name, whatever the partitioning (a collective over the data-parallel group). */
    public Map<String, HostTensor> gatherOptimizerState() {
        Map<String, HostTensor> local = acrossExperts(optimizer != null ? optimizer.gatherState()
                : partitioned.gatherState());
        if (tensorParallel.size() == 1) {
            return acrossStages(local);
        }
        Map<String, HostTensor> m = new LinkedHashMap<>();
        Map<String, HostTensor> v = new LinkedHashMap<>();
        local.forEach((k, t) -> (k.startsWith("exp_avg_sq.") ? v : m).put(k, t));
        Map<String, HostTensor> out = new LinkedHashMap<>(
                TensorParallelState.gather(m, params.parameters(), tensorParallel, "exp_avg."));
        out.putAll(TensorParallelState.gather(v, params.parameters(), tensorParallel, "exp_avg_sq."));
        return acrossStages(out);
    }

    /**
     * Every pipeline stage's tensors, on every stage (a collective over the pipeline group): each stage
     * serialises its map as safetensors and sends it to all; the first occurrence of a name wins (the token
     * embedding is the same on the first and last stage).
     */
    private Map<String, HostTensor> acrossStages(Map<String, HostTensor> mine) {
        return acrossGroup(mine, groups.pipeline());
    }

    /** Every expert-parallel rank's tensors (each holds its experts), on every rank of the expert-parallel group. */
    private Map<String, HostTensor> acrossExperts(Map<String, HostTensor> mine) {
        return acrossGroup(mine, groups.expertParallel());
    }

    private static Map<String, HostTensor> acrossGroup(Map<String, HostTensor> mine, Communicator pp) {
        if (pp == null || pp.size() == 1) {
            return mine;
        }
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            Safetensors.write(bytes, mine, Map.of());
            ByteBuffer encoded = ByteBuffer.wrap(bytes.toByteArray());
            ByteBuffer[] send = new ByteBuffer[pp.size()];
            for (int r = 0; r < send.length; r++) {
                send[r] = encoded.duplicate();
            }
            Map<String, HostTensor> all = new LinkedHashMap<>();
            for (ByteBuffer b : pp.allToAll(send)) {
                byte[] a = new byte[b.remaining()];
                b.duplicate().get(a);
                Safetensors.read(new ByteArrayInputStream(a)).tensors()
                        .forEach(all::putIfAbsent);
            }
            return all;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Restores the optimizer state from full (one-rank) tensors: this rank takes its slices. */
    public void loadOptimizerState(Map<String, HostTensor> tensors, long stepCount) {
        Map<String, HostTensor> local = tensors;
        if (tensorParallel.size() > 1) {
            local = new LinkedHashMap<>(TensorParallelState.slice(tensors, params.parameters(), "exp_avg."));
            local.putAll(TensorParallelState.slice(tensors, params.parameters(), "exp_avg_sq."));
        }
        if (optimizer != null) {
            optimizer.loadState(local, stepCount);
        } else {
            partitioned.loadState(local, stepCount);
        }
    }

    /** The one-rank model's parameters by name (a collective under tensor parallelism and ZeRO-3). */
    @Override
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

    /**
     * Makes every parameter available (ZeRO-3 gathers them all) for evaluation or sampling, then restores the
     * partitioned state. A collective under ZeRO-3: every rank must call it.
     */
    public <T> T withFullModel(Function<Gpt, T> work) {
        if (tensorParallel.size() > 1 || groups.pipeline().size() > 1 || groups.expertParallel().size() > 1) {
            Map<String, HostTensor> full = fullParameters();
            // built for this use and freed after it: a copy kept between evaluations would hold the whole model on
            // every rank of a layout that exists to split it
            try (NDManager copy = manager.newSubManager()) {
                Gpt fullModel = new Gpt(parallel.model().config(), parallel.model().lora()); // with its adapters, unsplit
                ParameterStore fullParams = new ParameterStore(fullModel, copy, 0);
                fullModel.initConstants(copy);
                fullParams.load(full);
                try {
                    return work.apply(fullModel);
                } finally {
                    fullParams.close();
                }
            }
        }
        if (partitioned == null || partitioned.stage() < 3) {
            return work.apply(parallel.model());
        }
        partitioned.materialiseAll();
        try {
            return work.apply(parallel.model());
        } finally {
            partitioned.releaseAll();
        }
    }

    public Gpt model() {
        return parallel.model();
    }

    /**
     * Optimizer step {@code step} (0-based: the step-th update): its micro-batches are samples
     * [m*B, (m+1)*B) of the step's global batch, of which this data-parallel rank computes its rows.
     */
    @Override
    public StepStats step(long step) {
        if (pipeline != null) {
            return pipelineStep(step);
        }
        int b = cfg.batchSize();
        int accum = cfg.gradAccum();
        int dp = dataParallel.size();
        int from = (int) dataParallel.partStart(b, dataParallel.rank());
        StepBatches batches = readStep(step, from);
        long commNanos = batches.commNanos();
        long stepKey = CounterRng.key(dropoutKey, step);
        startMoeStats();
        double loss = 0;
        for (int m = 0; m < accum; m++) {
            // the last micro-batch starts reducing each bucket as soon as backward completes it
            SegmentedPass.Hooks hooks = partitioned != null ? partitioned.hooks()
                    : m == accum - 1 && dp > 1 && replicas.size() == 1 ? overlapHooks() : SegmentedPass.NO_HOOKS;
            loss += forwardBackward(batches.micro()[m], m * b + from, stepKey, batches.scored(), hooks);
        }
        return finishStep(step, loss, batches.inputs(), commNanos);
    }

    /** The step's micro-batches (this rank's rows of each) and its token counts over the data-parallel group. */
    private record StepBatches(Batch[] micro, long scored, long inputs, long commNanos) {}

    private StepBatches readStep(long step, int from) {
        int b = cfg.batchSize();
        int rows = (int) dataParallel.partStart(b, dataParallel.rank() + 1) - from;
        Batch[] micro = new Batch[cfg.gradAccum()];
        long[] counts = new long[2]; // scored tokens, input tokens of the whole step
        for (int m = 0; m < micro.length; m++) {
            micro[m] = data.train(step, m * b + from, rows);
            counts[0] += micro[m].scored();
            counts[1] += micro[m].inputs().length;
        }
        long commNanos = 0;
        if (dataParallel.size() > 1) {
            long t0 = System.nanoTime();
            // each part's loss is weighted by its share of the step's scored tokens: the total is global
            Scalars.sum(counts, dataParallel);
            commNanos += System.nanoTime() - t0;
        }
        return new StepBatches(micro, counts[0], counts[1], commNanos);
    }

    /** Sums the loss and routing statistics over the data-parallel group, then clips and applies the update. */
    private StepStats finishStep(long step, double stageLoss, long tokens, long commNanos) {
        double loss = stageLoss;
        if (dataParallel.size() > 1) {
            long t0 = System.nanoTime();
            loss = Scalars.sumInRankOrder(new double[] {loss}, dataParallel)[0];
            commNanos += System.nanoTime() - t0;
        }
        commNanos += finishMoeStats();
        double lr = schedule.at(step);
        double norm = optimizer != null ? optimizer.step(lr, cfg.gradClip()) : partitioned.step(lr, cfg.gradClip());
        commNanos += optimizer != null ? optimizer.commNanos() : partitioned.commNanos();
        return new StepStats(step, loss, lr, norm, tokens, commNanos / 1e6);
    }

    /**
     * One step of a pipeline stage: the {@link PipelineExecutor} runs the step's micro-batches under the schedule,
     * this stage's part of each built here; the loss it returns is already shared with every stage.
     */
    private StepStats pipelineStep(long step) {
        boolean first = pipeline.firstStage();
        boolean last = pipeline.lastStage();
        int b = cfg.batchSize();
        int accum = cfg.gradAccum();
        int dp = dataParallel.size();
        int from = (int) dataParallel.partStart(b, dataParallel.rank());
        int rows = (int) dataParallel.partStart(b, dataParallel.rank() + 1) - from;
        StepBatches batches = readStep(step, from);
        Batch[] micro = batches.micro();
        long stepKey = CounterRng.key(dropoutKey, step);
        startMoeStats();
        int seq = parallel.stageSequenceLength(micro[0].seqLen()); // sequence parallelism: stages exchange shards
        SegmentedPass.Recompute recompute = SegmentedPass.Recompute.of(cfg.activationCheckpointing());
        PipelineExecutor.Result result = pipeline.run(accum, new Shape(rows, seq, parallel.model().config().nEmbd()), (m, mm) -> {
            Targets tg = Targets.of(mm, micro[m].targets());
            double share = (double) tg.counted() / batches.scored();
            ForwardContext ctx = new ForwardContext(true, stepKey, m * b + from, mm).withMoe(moeContext());
            SegmentedPass.Hooks hooks = m == accum - 1 && dp > 1 ? overlapHooks() : SegmentedPass.NO_HOOKS;
            SegmentedPass pass = new SegmentedPass(parallel.segments(tg), ctx, hooks, recompute, tensorParallel, !first,
                    last, parallel.stageBoundary());
            PtNDArray input = first ? Ops.longs(mm, micro[m].inputs(), rows, micro[m].seqLen()) : null;
            return new PipelineExecutor.MicroBatch(pass, input, share);
        });
        lastBubble = result.bubble();
        if (moeStats != null) { // every stage's MoE layers, then every data-parallel rank's tokens
            moeStats.fromArray(Scalars.sumInRankOrder(moeStats.toArray(), groups.pipeline()));
        }
        return finishStep(step, result.loss(), batches.inputs(), batches.commNanos() + result.commNanos());
    }

    private double lastBubble;
    private MoeStats moeStats; // this step's routing statistics (MoE models), else null

    private void startMoeStats() {
        MegalithConfig.Moe moe = parallel.model().config().moe();
        moeStats = moe.enabled() ? new MoeStats(
                MoeMlp.moeLayers(moe, parallel.model().config().nLayer()), moe.experts()) : null;
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

    /** Forward and backward of one micro-batch, split across the workers; returns its weighted loss. */
    private double forwardBackward(Batch batch, long firstSample, long stepKey, long stepScored,
            SegmentedPass.Hooks hooks) {
        int n = replicas.size();
        if (n == 1) {
            return part(parallel, batch, 0, batch.size(), firstSample, stepKey, stepScored, hooks);
        }
        int[] bounds = new int[n + 1];
        for (int w = 0; w <= n; w++) {
            bounds[w] = (int) ((long) batch.size() * w / n);
        }
        List<Future<Double>> parts = new ArrayList<>();
        for (int w = 0; w < n; w++) {
            ParallelGpt replica = replicas.get(w);
            int from = bounds[w];
            int to = bounds[w + 1];
            parts.add(workers.submit(() -> part(replica, batch, from, to, firstSample, stepKey, stepScored,
                    SegmentedPass.NO_HOOKS)));
        }
        double loss = 0;
        for (Future<Double> f : parts) {
            try {
                loss += f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted in a training step", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("a worker failed in a training step", e.getCause());
            }
        }
        return loss;
    }

    /** Rows [from, to) of {@code batch} through {@code net}: loss scaled by its share of the step's tokens. */
    private double part(ParallelGpt net, Batch batch, int from, int to, long firstSample, long stepKey, long stepScored,
            SegmentedPass.Hooks hooks) {
        if (from == to) {
            return 0;
        }

        int t = batch.seqLen();
        long[] inputs = Arrays.copyOfRange(batch.inputs(), from * t, to * t);
        long[] targets = Arrays.copyOfRange(batch.targets(), from * t, to * t);
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            PtNDArray ids = Ops.longs(m, inputs, to - from, t);
            Targets tg = Targets.of(m, targets);
            ForwardContext ctx = new ForwardContext(true, stepKey, firstSample + from, m).withMoe(moeContext());
            // mean over this part's tokens, weighted by the part's share of all tokens of the step
            double share = (double) tg.counted() / stepScored;
            SegmentedPass.Recompute asked = SegmentedPass.Recompute.of(cfg.activationCheckpointing());
            float loss = SegmentedPass.run(net.segments(tg), ids, ctx, (float) share, hooks,
                    partitioned != null ? partitioned.recompute(asked) : asked, tensorParallel);
            return loss * share;
        }
    }

    /** Mean loss over {@code batches} validation batches (no dropout, no gradients). */
    public double validationLoss(int batches) {
        return withFullModel(full -> validationLoss(full, batches));
    }

    /** As {@link #validationLoss(int)} on {@code full}, a one-rank model of this trainer's (see {@link #withFullModel}). */
    public double validationLoss(Gpt full, int batches) {
        double sum = 0;
        for (int i = 0; i < batches; i++) {
            Batch batch = data.validation(i, cfg.batchSize());
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                PtNDArray ids = Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen());
                sum += full.loss(ids, Targets.of(m, batch.targets()), ForwardContext.inference(m)).getFloat();
            }
        }
        return sum / batches;
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
            workers.shutdownNow();
        }
        for (int w = 1; w < replicaStores.size(); w++) {
            replicaStores.get(w).close();
        }
    }
}
