package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import io.megalith.core.comm.RankGroups;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.ReverseDigitsTask;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.model.seq2seq.Seq2SeqTraining;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.train.report.MetricsLog;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * A training run of a model family other than the GPT ({@code model.family}), one rank of a data- and
 * tensor-parallel layout: today the encoder-decoder on the built-in reversal task ({@code data.task: reverse}),
 * trained by {@link SegmentTrainer} (DP gradient sums, TP segments with vocab-parallel embedding and loss). The
 * leader writes metrics.jsonl (step, loss, lr, grad_norm, tokens_per_sec; at the end the teacher-forced loss and
 * the exact match of greedy decoding on held-out strings, evaluated on a one-rank copy of the gathered
 * parameters). Not yet: checkpoints
 * (and so resuming), BERT (it needs a masked-LM data task), pipeline parallelism, ZeRO 2/3.
 */
public final class FamilyTrainingRun implements AutoCloseable {
    private final MegalithConfig cfg;
    private final RankGroups groups;
    private final boolean leader;
    private final PrintStream console;
    private final NDManager manager;
    private final ReverseDigitsTask task;
    private final Seq2SeqConfig modelConfig;
    private final EncoderDecoder model;
    private final ParameterStore store;
    private final SegmentTrainer trainer;
    private final MetricsLog metrics;

    public FamilyTrainingRun(MegalithConfig cfg, Configuration hadoop, PrintStream console, RankGroups groups,
            boolean leader) throws IOException {
        if (!"encoder_decoder".equals(cfg.model().family())) {
            throw new IllegalArgumentException("model.family " + cfg.model().family() + ": FamilyTrainingRun trains "
                    + "encoder_decoder (gpt: TrainingRun)");
        }
        this.cfg = cfg;
        this.groups = groups;
        this.leader = leader;
        this.console = console;
        Torch.load(cfg.runtime().threads());
        Torch.enterThread();
        this.manager = Torch.newManager();
        MegalithConfig.Data d = cfg.data();
        MegalithConfig.Model m = cfg.model();
        this.task = new ReverseDigitsTask(d.minLen(), d.maxLen(), d.heldOutFraction(), cfg.seed());
        this.modelConfig = task.modelConfig(m.encoderLayers(), m.decoderLayers(), m.nHead(), m.nEmbd(), m.dropout());
        var tp = groups.tensorParallel();
        this.model = new EncoderDecoder(modelConfig, new TpLayout(tp.rank(), tp.size()), tp);
        List<io.megalith.core.model.Segment> plan = model.segments(null, null).all();
        this.store = new ParameterStore(GradientBuckets.backwardOrder(plan), manager, cfg.seed());
        this.trainer = new SegmentTrainer(cfg, store, plan,
                (step, first, count) -> SegmentTrainer.seq2seq(model, fixedLength(task, step, first, count)), manager,
                groups.dataParallel(), tp);
        this.metrics = leader ? new MetricsLog(cfg.run().dir(), hadoop) : null;
    }

    /**
     * Rows [first, first + count) of a step, padded to the task's full lengths: shapes (and so dropout masks) do
     * not depend on how the batch is cut over data-parallel ranks.
     */
    public static Seq2SeqTask.Batch fixedLength(ReverseDigitsTask task, long step, int first, int count) {
        Seq2SeqTask.Batch b = task.train(step, first, count);
        long[][] src = new long[count][];
        long[][] tgt = new long[count][];
        for (int i = 0; i < count; i++) {
            src[i] = b.source(i);
            tgt[i] = b.expected(i);
        }
        return Seq2SeqTask.batch(src, tgt, task.maxSourceLen(), task.maxTargetLen());
    }

    /** Trains {@code train.max_steps} steps; returns what the run did (losses, exact match, samples). */
    public TrainingRun.Summary run() throws IOException {
        long start = System.nanoTime();
        long tokens = 0;
        double last = Double.NaN;
        int steps = cfg.train().maxSteps();
        for (int s = 0; s < steps; s++) {
            long t0 = System.nanoTime();
            Trainer.StepStats st = trainer.step(s);
            long nanos = System.nanoTime() - t0;
            tokens += st.tokens();
            last = st.loss();
            if (metrics != null) {
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", (long) s + 1);
                rec.put("loss", st.loss());
                rec.put("lr", st.lr());
                rec.put("grad_norm", st.gradNorm());
                rec.put("tokens_per_sec", st.tokens() / (nanos / 1e9));
                rec.put("step_ms", nanos / 1e6);
                rec.put("comm_ms", st.commMs());
                metrics.write(rec);
            }
            if (leader && ((s + 1) % cfg.train().logEvery() == 0 || s == steps - 1)) {
                console.printf("step %d: loss %.4f%n", s + 1, st.loss());
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        // every rank takes part in the gather; the leader evaluates a one-rank copy
        Map<String, io.megalith.core.tensor.HostTensor> full = trainer.fullParameters();
        Double exact = null;
        double valLoss = Double.NaN; // teacher-forced loss on held-out strings (leader)
        List<String> samples = new ArrayList<>();
        if (leader) {
            EncoderDecoder one = new EncoderDecoder(modelConfig);
            try (ParameterStore oneStore = new ParameterStore(one, manager, 0)) {
                oneStore.load(full);
                int n = task.heldOutSize(cfg.data().evalPairs());
                exact = Seq2SeqTraining.exactMatch(task, one, manager, n, 1, samples);
                Seq2SeqTask.Batch b = task.heldOut(0, Math.min(n, 100));
                ai.djl.pytorch.jni.JniUtils.setGradMode(false);
                try (ai.djl.ndarray.NDScope scope = new ai.djl.ndarray.NDScope(); NDManager mm = manager.newSubManager()) {
                    valLoss = one.loss(b.src(), b.srcLen(), b.tgtIn(), b.targets(), b.tgtLen(), b.batch(),
                            io.megalith.core.nn.ForwardContext.inference(mm)).getFloat();
                }
            }
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("step", (long) steps);
            rec.put("val_loss", valLoss);
            rec.put("exact_match", exact);
            metrics.write(rec);
            console.printf("exact match %.1f%% on %d held-out strings%n", 100 * exact, task.heldOutSize(
                    cfg.data().evalPairs()));
        }
        return new TrainingRun.Summary(0, steps, last, valLoss, exact, samples, tokens / seconds, seconds);
    }

    /** The one-rank model's parameters by name (a collective under tensor parallelism). */
    public Map<String, io.megalith.core.tensor.HostTensor> fullParameters() {
        return trainer.fullParameters();
    }

    @Override
    public void close() throws IOException {
        if (metrics != null) {
            metrics.close();
        }
        store.close();
        manager.close();
    }
}
