package io.megalith.core.family.gpt;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TrainingData;
import io.megalith.core.distill.Teacher;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.moe.MoeMlp;
import io.megalith.core.moe.MoeStats;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.pipeline.PipelineExecutor;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.train.Part;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.core.train.eval.ValidationLoss;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The GPT as the {@link Trainer} trains it: this rank's {@link ParallelGpt} and the next-token rows of its
 * {@link TrainingData}; with every capability a model can have: pipeline stages, MoE routing statistics, a token
 * embedding tied across stages, worker replicas. Also the GPT's evaluation on the gathered one-rank model.
 */
public final class GptParts implements PartSource {
    private final ParallelGpt parallel;
    private final TrainingData data;
    private final Teacher teacher; // distillation's frozen teacher, else null

    public GptParts(ParallelGpt parallel, TrainingData data) {
        this(parallel, data, null);
    }

    /** With a frozen {@code teacher} (or null) whose soft targets enter every part's loss. */
    public GptParts(ParallelGpt parallel, TrainingData data, Teacher teacher) {
        this.parallel = parallel;
        this.data = data;
        this.teacher = teacher;
    }

    /** Parameters for the whole one-rank {@code model} as {@code config}'s ZeRO stage wants them. */
    public static ModelParameters createParameters(MegalithConfig config, Gpt model, NDManager manager,
            Communicator dataParallel) {
        return createParameters(config, GptPlan.apply(model, Placement.SINGLE), manager, dataParallel);
    }

    /** As {@link Trainer#createParameters} for {@code model} on a rank of {@code dataParallel} only. */
    public static ModelParameters createParameters(MegalithConfig config, ParallelGpt model, NDManager manager,
            Communicator dataParallel) {
        return createParameters(config, model, manager, RankGroups.dataParallelOnly(dataParallel));
    }

    /** As {@link Trainer#createParameters} for {@code model}, this rank's part of the GPT. */
    public static ModelParameters createParameters(MegalithConfig config, ParallelGpt model, NDManager manager,
            RankGroups groups) {
        return Trainer.createParameters(config, model.segments(null), manager, groups);
    }

    @Override
    public List<Segment> plan() {
        return parallel.segments(null);
    }

    @Override
    public Part part(long step, int first, int count) {
        return new Rows(parallel, teacher, data.train(step, first, count), 0, count);
    }

    @Override
    public Parameter tiedEmbedding() {
        return parallel.model().tokenEmbedding();
    }

    @Override
    public boolean hasReplicas() {
        return true;
    }

    @Override
    public Replica replica(ParameterStore primary, NDManager manager) {
        ParallelGpt replica = GptPlan.apply(new Gpt(parallel.model().config(), parallel.model().lora()),
                Placement.SINGLE);
        ParameterStore views = new ParameterStore(replica.model(), primary);
        replica.initConstants(manager);
        return new Replica(new GptParts(replica, data, teacher), views);
    }

    @Override
    public Part rowsOf(Part whole, int from, int to) {
        return new Rows(parallel, teacher, ((Rows) whole).batch, from, to);
    }

    @Override
    public MoeStats newMoeStats() {
        GptConfig c = parallel.model().config();
        return c.moe().enabled() ? new MoeStats(MoeMlp.moeLayers(c.moe(), c.nLayer()), c.moe().experts()) : null;
    }

    /** Rows [from, to) of a batch of next-token rows, through {@code net}. */
    private static final class Rows implements Part {
        private final ParallelGpt net;
        private final Teacher teacher;
        private final Batch batch; // the whole batch a rank read; rowsOf cuts it for the workers
        private final long[] inputs;
        private final long[] targets;
        private final int rows;

        Rows(ParallelGpt net, Teacher teacher, Batch batch, int from, int to) {
            int t = batch.seqLen();
            this.net = net;
            this.teacher = teacher;
            this.batch = batch;
            this.inputs = Arrays.copyOfRange(batch.inputs(), from * t, to * t);
            this.targets = Arrays.copyOfRange(batch.targets(), from * t, to * t);
            this.rows = to - from;
        }

        @Override
        public long scored() {
            return Arrays.stream(targets).filter(v -> v >= 0).count();
        }

        @Override
        public long tokens() {
            return inputs.length;
        }

        @Override
        public int rows() {
            return rows;
        }

        /** The mean loss over this part's scored targets, weighted by its share of all the step's. */
        @Override
        public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
                SegmentedPass.Recompute recompute, Communicator tp) {
            NDManager m = ctx.manager();
            PtNDArray ids = Ops.longs(m, inputs, rows, batch.seqLen());
            Targets tg = targets(ids, m);
            double share = (double) tg.counted() / stepScored;
            float loss = SegmentedPass.run(net.segments(tg), ids, ctx, (float) share, hooks, recompute, tp);
            return loss * share;
        }

        @Override
        public PipelineExecutor.MicroBatch stage(ForwardContext ctx, long stepScored, SegmentedPass.Hooks hooks,
                SegmentedPass.Recompute recompute, Communicator tp) {
            boolean first = net.placement().pp().first();
            boolean last = net.placement().pp().last();
            PtNDArray ids = first || (last && teacher != null) ? Ops.longs(ctx.manager(), inputs, rows, batch.seqLen())
                    : null;
            // only the last stage computes the loss, so only it runs the teacher
            Targets tg = last ? targets(ids, ctx.manager()) : Targets.of(ctx.manager(), targets);
            double share = (double) tg.counted() / stepScored;
            SegmentedPass pass = new SegmentedPass(net.segments(tg), ctx, hooks, recompute, tp, !first, last,
                    net.stageBoundary());
            return new PipelineExecutor.MicroBatch(pass, first ? ids : null, share);
        }

        /** The hard targets, with the teacher's soft targets for input {@code ids} under distillation. */
        private Targets targets(PtNDArray ids, NDManager m) {
            Targets hard = Targets.of(m, targets);
            return teacher == null ? hard : hard.withSoft(teacher.softTargets(ids, m));
        }

        @Override
        public Shape stageActivation() {
            // sequence parallelism: stages exchange sequence shards
            return new Shape(rows, net.stageSequenceLength(batch.seqLen()), net.model().config().nEmbd());
        }
    }

    /**
     * Runs {@code work} on the one-rank model of {@code trainer}'s parameters, for evaluation or sampling: a copy
     * built from the gathered parameters when the model is split over ranks, else this rank's model (ZeRO-3 gathers
     * every parameter, then restores the partitioned state). A collective: every rank must call it.
     */
    public <T> T withFullModel(Trainer trainer, Function<Gpt, T> work) {
        if (trainer.splitsModel()) {
            Map<String, HostTensor> full = trainer.fullParameters();
            // built for this use and freed after it: a copy kept between evaluations would hold the whole model on
            // every rank of a layout that exists to split it
            try (NDManager copy = trainer.manager().newSubManager()) {
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
        return trainer.withAllParameters(() -> work.apply(parallel.model()));
    }

    /** Mean loss over {@code batches} validation batches on the one-rank model (see {@link #withFullModel}). */
    public double validationLoss(Trainer trainer, int batches) {
        return withFullModel(trainer, full -> validationLoss(trainer, full, batches));
    }

    /** Mean loss of {@code full}, the one-rank GPT of {@code trainer}, over {@code batches} validation batches. */
    public double validationLoss(Trainer trainer, Gpt full, int batches) {
        return ValidationLoss.of(full, data, batches, trainer.settings().batchSize(), trainer.manager());
    }
}
