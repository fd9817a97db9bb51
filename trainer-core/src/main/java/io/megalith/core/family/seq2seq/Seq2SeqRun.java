package io.megalith.core.family.seq2seq;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.segment.SegmentRun;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.parallelize.EncoderDecoderPlan;
import io.megalith.core.parallelize.ParallelEncoderDecoder;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.task.Seq2SeqRunTask;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The encoder-decoder's part of a training run on one rank ({@link SegmentRun}): source to target on data.task
 * reverse or pairs ({@link Seq2SeqRunTask}), with the {@code finetune} section (LoRA adapters, frozen parameters)
 * applied. Evaluation: {@link Seq2SeqEvaluation}, with greedy samples at the end.
 */
public final class Seq2SeqRun extends SegmentRun {
    private final Seq2SeqTask task;
    private final Seq2SeqConfig modelConfig;

    public Seq2SeqRun(Context c) throws IOException {
        super(c);
        MegalithConfig.Model m = cfg.model();
        Placement placement = Placement.tensorParallel(c.groups().tensorParallel());
        this.task = Seq2SeqRunTask.open(cfg, c.hadoop());
        this.modelConfig = task.modelConfig(m.encoderLayers(), m.decoderLayers(), m.nHead(), m.nEmbd(), m.dropout())
                .withLora(cfg.finetune().loraConfig());
        EncoderDecoder model = new EncoderDecoder(modelConfig);
        ParallelEncoderDecoder parallel = EncoderDecoderPlan.apply(model, placement);
        Seq2SeqConfig sc = modelConfig;
        String shape = new Seq2SeqConfig(sc.vocabSize(), sc.maxSourceLen(), sc.maxTargetLen(), sc.nEncoderLayer(),
                sc.nDecoderLayer(), sc.nHead(), sc.nEmbd(), 0, sc.bias(), sc.padId(), sc.bosId(), sc.eosId(), sc.lora())
                .toString();
        List<Segment> segments = parallel.segments(null, null).all();
        PartSource.Rows parts = (step, first, count) -> TeacherForcedPart.of(parallel,
                fixedLength(task, step, first, count));
        Freezing.apply(model.parameters(), cfg.finetune()); // adapters were built; freeze what it does not train
        train(model, segments, parts, shape, c);
        model.initConstants(manager); // ZeRO-3 gathers the embedding only inside its segments
    }

    /** What the checkpoint stores as tokenizer: the task's vocabulary (the reversal's is fixed). */
    @Override
    public byte[] tokenizer() {
        return Seq2SeqRunTask.tokenizerBytes(task);
    }

    @Override
    protected String tokenizerKind() {
        return Seq2SeqRunTask.kind(task);
    }

    /**
     * Rows [first, first + count) of a step, padded to the task's full lengths: shapes (and so dropout masks) do
     * not depend on how the batch is cut over data-parallel ranks.
     */
    public static Seq2SeqTask.Batch fixedLength(Seq2SeqTask task, long step, int first, int count) {
        Seq2SeqTask.Batch b = task.train(step, first, count);
        long[][] src = new long[count][];
        long[][] tgt = new long[count][];
        for (int i = 0; i < count; i++) {
            src[i] = b.source(i);
            tgt[i] = b.expected(i);
        }
        return Seq2SeqTask.batch(src, tgt, task.maxSourceLen(), task.maxTargetLen());
    }

    /** {val_loss, exact_match} ({@link Seq2SeqEvaluation}) and its console line; at the end the samples. */
    @Override
    protected Evaluation evaluate(long step, Map<String, HostTensor> full, List<String> samples) {
        Map<String, Object> ev = Seq2SeqEvaluation.of(modelConfig, task, cfg.data().evalPairs(), full, manager,
                samples);
        String line = null;
        if (ev.containsKey("exact_match")) { // pairs with nothing held out: no evaluation line
            line = String.format("step %d: val loss %.4f, exact match %.1f%% on %d held-out examples", step,
                    ev.get("val_loss"), 100 * (Double) ev.get("exact_match"), task.heldOutSize(cfg.data().evalPairs()));
        }
        return new Evaluation(ev, line, samples);
    }

    /**
     * Exact match of {@code full} (this run's {@code fullParameters()}) on data.eval_pairs held-out examples, decoded
     * greedily ({@code beams} 1) or by beam search; {@code samples}, if given, gets decoded examples.
     */
    public double exactMatch(Map<String, HostTensor> full, int beams, List<String> samples) {
        return Seq2SeqEvaluation.exactMatch(modelConfig, task, cfg.data().evalPairs(), full, beams, manager, samples);
    }

    /** The adapters (with every other tensor that trained) and the merged model. */
    @Override
    protected LoraCheck.Outputs loraOutputs() {
        int n = Math.min(4, task.heldOutSize(cfg.data().evalPairs()));
        return LoraCheck.seq2seq(modelConfig, n > 0 ? task.heldOut(0, n) : fixedLength(task, 0, 0, 4), manager);
    }
}
