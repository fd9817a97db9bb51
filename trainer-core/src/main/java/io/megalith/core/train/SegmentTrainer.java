package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.Scalars;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.optim.LrSchedule;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.parallelize.ParallelEncoderDecoder;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensorparallel.TensorParallelState;
import io.megalith.core.zero.DataParallelOptimizer;
import io.megalith.core.zero.GradientBuckets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * {@link Trainer}'s step for any model that runs as segments (BERT, the encoder-decoder; the GPT has its own
 * {@link Trainer} with pipelining, ZeRO-2/3, MoE and worker threads): data parallelism (each rank computes rows
 * [partStart(B, r), partStart(B, r+1)) of every micro-batch; gradients summed over the group by {@link
 * DataParallelOptimizer}, ZeRO stage 0 or 1) and tensor parallelism (the model built for its rank of the group;
 * segment boundaries, PARTIAL gradients and the global norm over {@code tensorParallel}), AdamW with
 * {@code train.*}'s schedule and clipping. As in {@link Trainer}, every part's loss is weighted by its share of
 * the step's scored targets, so the step's loss and gradient are those of the mean over all of them however the
 * batch is cut; dropout is keyed by (seed, step, global row), so it does not depend on the layout either.
 *
 * <p>Frozen parameters (fine-tuning): the caller freezes them before building the store, which lays them out after
 * the trainable ones without gradients; buckets, the gradient norm and the AdamW state cover the trainable ones only
 * (see {@link DataParallelOptimizer}), checkpoints still save and load every value.
 */
public final class SegmentTrainer implements RunTrainer {
    /** Rows of one micro-batch that this rank computes. */
    public interface Part {
        /** Targets its loss is the mean over. */
        long scored();

        /** Input tokens it reads. */
        long tokens();

        /** Sequences (rows) it holds. */
        int rows();

        /**
         * Forward and backward of its share of the step's loss, the step having {@code stepScored} scored targets
         * and {@code stepRows} rows over all parts and ranks; returns that share of the loss (its mean loss weighted
         * by its share of the step's scored targets).
         */
        double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Recompute recompute,
                Communicator tensorParallel);
    }

    /** The rows [first, first + count) of micro-batch rows of a step (global row indices). */
    public interface Data {
        Part part(long step, int first, int count);
    }

    /**
     * A BERT pre-training part (masked LM, plus NSP when the batch has labels; see {@link ParallelBert#segments}): the
     * step's loss is the mean MLM loss over its masked tokens plus the mean NSP loss over its sequences.
     */
    public static Part bert(ParallelBert model, MlmBatch batch) {
        long scored = Arrays.stream(batch.targets()).filter(t -> t >= 0).count();
        return new Part() {
            @Override
            public long scored() {
                return scored;
            }

            @Override
            public long tokens() {
                return batch.inputs().length;
            }

            @Override
            public int rows() {
                return batch.batch();
            }

            @Override
            public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Recompute recompute,
                    Communicator tp) {
                NDManager m = ctx.manager();
                // MLM: a mean over the step's masked tokens; NSP: a mean over its sequences
                float mlm = (float) ((double) scored / stepScored);
                float nsp = (float) ((double) batch.batch() / stepRows);
                return SegmentedPass.run(model.segments(batch, m, mlm, nsp), Bert.inputIds(m, batch), ctx, 1f,
                        SegmentedPass.NO_HOOKS, recompute, tp);
            }
        };
    }

    /** A teacher-forced seq2seq part (encoder chain, then decoder chain; see {@link ParallelEncoderDecoder#segments}). */
    public static Part seq2seq(ParallelEncoderDecoder model, Seq2SeqTask.Batch batch) {
        long scored = Arrays.stream(batch.targets()).filter(t -> t >= 0).count();
        return new Part() {
            @Override
            public long scored() {
                return scored;
            }

            @Override
            public long tokens() {
                return batch.src().length + batch.tgtIn().length;
            }

            @Override
            public int rows() {
                return batch.batch();
            }

            @Override
            public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Recompute recompute,
                    Communicator tp) {
                ParallelEncoderDecoder.Chains c = model.segments(batch, ctx.manager());
                double share = (double) scored / stepScored;
                return share * SegmentedPass.runTwoChains(c.encoder(), c.source(), c.decoder(), c.target(), ctx,
                        (float) share, SegmentedPass.NO_HOOKS, recompute, tp);
            }
        };
    }

    private final MegalithConfig.Train cfg;
    private final ParameterStore store;
    private final DataParallelOptimizer optimizer;
    private final LrSchedule schedule;
    private final Data data;
    private final NDManager manager;
    private final Communicator dataParallel;
    private final Communicator tensorParallel;
    private final long dropoutKey;

    /**
     * @param plan the model's segments (each with the parameters it reads), for the gradient buckets
     * @param store the model's parameters (this rank's slices under tensor parallelism)
     */
    public SegmentTrainer(MegalithConfig config, ParameterStore store, List<Segment> plan, Data data, NDManager manager,
            Communicator dataParallel, Communicator tensorParallel) {
        if (config.zero().stage() > 1) {
            throw new IllegalArgumentException("zero.stage " + config.zero().stage() + ": segment training runs ZeRO 0 or 1");
        }
        if (store.trainableElements() == 0) {
            throw new IllegalArgumentException("every parameter is frozen: nothing to train");
        }
        this.cfg = config.train();
        this.store = store;
        this.data = data;
        this.manager = manager;
        this.dataParallel = dataParallel;
        this.tensorParallel = tensorParallel;
        this.schedule = new LrSchedule(cfg.lr(), cfg.minLr(), cfg.warmupSteps(), cfg.decayEnd());
        this.dropoutKey = CounterRng.key(config.seed(), "dropout");
        long bucket = Math.max(1, (long) (config.parallel().gradBucketMib() * (1 << 20) / 4));
        RankGroups groups = new RankGroups(dataParallel, tensorParallel, new SingleRankCommunicator("pp", 0), null);
        this.optimizer = new DataParallelOptimizer(store, List.of(store), GradientBuckets.plan(plan, store, bucket), groups,
                null, config.zero().stage(), cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay());
    }

    public DataParallelOptimizer optimizer() {
        return optimizer;
    }

    @Override
    public ParameterStore parameters() {
        return store;
    }

    @Override
    public long optimizerSteps() {
        return optimizer.optimizer().stepCount();
    }

    @Override
    public void copyOptimizerState(Predicate<Parameter> which, HostCopies out) {
        optimizer.copyState(which, out);
    }

    /** Full AdamW state by name, the one-rank model's (a collective over dp, and over tp under tensor parallelism). */
    public Map<String, HostTensor> gatherOptimizerState() {
        Map<String, HostTensor> local = optimizer.gatherState();
        if (tensorParallel.size() == 1) {
            return local;
        }
        Map<String, HostTensor> m = new LinkedHashMap<>();
        Map<String, HostTensor> v = new LinkedHashMap<>();
        local.forEach((k, t) -> (k.startsWith("exp_avg_sq.") ? v : m).put(k, t));
        Map<String, HostTensor> out = new LinkedHashMap<>(
                TensorParallelState.gather(m, store.parameters(), tensorParallel, "exp_avg."));
        out.putAll(TensorParallelState.gather(v, store.parameters(), tensorParallel, "exp_avg_sq."));
        return out;
    }

    /** Restores the AdamW state from full (one-rank) tensors: this rank takes its slices. */
    @Override
    public void loadOptimizerState(Map<String, HostTensor> tensors, long stepCount) {
        Map<String, HostTensor> local = tensors;
        if (tensorParallel.size() > 1) {
            local = new LinkedHashMap<>(TensorParallelState.slice(tensors, store.parameters(), "exp_avg."));
            local.putAll(TensorParallelState.slice(tensors, store.parameters(), "exp_avg_sq."));
        }
        optimizer.loadState(local, stepCount);
    }

    /** Sets every parameter from the one-rank model's tensors (this rank takes its slices). */
    @Override
    public void loadFullParameters(Map<String, HostTensor> full) {
        store.load(tensorParallel.size() > 1 ? TensorParallelState.slice(full, store.parameters(), "") : full);
    }

    /** The last step's gradients (reduced, before clipping) in one-rank form (a collective under tensor parallelism). */
    public Map<String, HostTensor> fullGradients() {
        return TensorParallelState.gather(optimizer.lastGradients(), store.parameters(), tensorParallel, "");
    }

    /** The one-rank model's parameters by name (a collective under tensor parallelism). */
    @Override
    public Map<String, HostTensor> fullParameters() {
        return TensorParallelState.gather(store.toHost(), store.parameters(), tensorParallel, "");
    }

    /** One optimizer step over {@code train.grad_accum} micro-batches of {@code train.batch_size} rows. */
    @Override
    public Trainer.StepStats step(long step) {
        int b = cfg.batchSize();
        int accum = cfg.gradAccum();
        int from = (int) dataParallel.partStart(b, dataParallel.rank());
        int to = (int) dataParallel.partStart(b, dataParallel.rank() + 1);
        Part[] parts = new Part[accum];
        long[] counts = new long[3]; // scored targets, input tokens, rows of the whole step
        for (int m = 0; m < accum; m++) {
            parts[m] = to > from ? data.part(step, m * b + from, to - from) : null;
            counts[0] += parts[m] == null ? 0 : parts[m].scored();
            counts[1] += parts[m] == null ? 0 : parts[m].tokens();
            counts[2] += parts[m] == null ? 0 : parts[m].rows();
        }
        long t0 = System.nanoTime();
        Scalars.sum(counts, dataParallel);
        long commNanos = System.nanoTime() - t0;
        long stepKey = CounterRng.key(dropoutKey, step);
        SegmentedPass.Recompute recompute = SegmentedPass.Recompute.of(cfg.activationCheckpointing());
        double loss = 0;
        for (int m = 0; m < accum; m++) {
            if (parts[m] == null) {
                continue;
            }
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager mm = manager.newSubManager()) {
                ForwardContext ctx = new ForwardContext(true, stepKey, m * b + from, mm);
                loss += parts[m].run(ctx, counts[0], counts[2], recompute, tensorParallel);
            }
        }
        if (dataParallel.size() > 1) {
            t0 = System.nanoTime();
            loss = Scalars.sumInRankOrder(loss, dataParallel);
            commNanos += System.nanoTime() - t0;
        }
        double lr = schedule.at(step);
        double norm = optimizer.step(lr, cfg.gradClip());
        commNanos += optimizer.commNanos();
        return new Trainer.StepStats(step, loss, lr, norm, counts[1], commNanos / 1e6);
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
