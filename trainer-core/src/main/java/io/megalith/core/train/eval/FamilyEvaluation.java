package io.megalith.core.train.eval;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Targets;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.model.seq2seq.Seq2SeqTraining;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Held-out evaluation of a BERT or encoder-decoder {@link io.megalith.core.train.TrainingRun}, on the leader, of a one-rank copy of the
 * gathered parameters (the tensor-parallel model's forward is the training segments, which need every rank): what its
 * metrics records hold besides the step. Encoder-decoder: teacher-forced {@code val_loss} on the first (up to) 100
 * held-out examples and greedy {@code exact_match} on {@code data.eval_pairs} of them. BERT: masked-LM {@code val_loss}
 * (mean of the batches' losses) and {@code mlm_accuracy} (argmax = original token, over every masked position) of
 * {@code train.eval_batches} validation batches.
 */
public final class FamilyEvaluation {
    private FamilyEvaluation() {}

    public static Map<String, Object> seq2seq(Seq2SeqConfig shape, Seq2SeqTask task, int evalPairs,
            Map<String, HostTensor> full, NDManager manager, List<String> samples) {
        Map<String, Object> rec = new LinkedHashMap<>();
        EncoderDecoder one = new EncoderDecoder(shape);
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            int n = task.heldOutSize(evalPairs);
            if (n == 0) { // pairs with nothing held out: only the training loss to show
                return rec;
            }
            Seq2SeqTask.Batch b = task.heldOut(0, Math.min(n, 100));
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                rec.put("val_loss", (double) one.loss(b.src(), b.srcLen(), b.tgtIn(), b.targets(), b.tgtLen(), b.batch(),
                        ForwardContext.inference(m)).getFloat());
            }
            rec.put("exact_match", Seq2SeqTraining.exactMatch(task, one, manager, n, 1, samples));
        }
        return rec;
    }

    public static Map<String, Object> bert(BertConfig shape, IntFunction<MlmBatch> validation, int batches,
            Map<String, HostTensor> full, NDManager manager) {
        Bert one = new Bert(shape);
        double loss = 0;
        long masked = 0;
        long right = 0;
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            JniUtils.setGradMode(false);
            for (int i = 0; i < batches; i++) {
                MlmBatch b = validation.apply(i);
                try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                    PtNDArray h = one.encode(Ops.longs(m, b.inputs(), b.batch(), b.seqLen()), null,
                            one.paddingBias(m, b.inputs(), b.batch(), b.seqLen()), ForwardContext.inference(m));
                    PtNDArray logits = one.mlmLogits(Ops.reshape(h, -1, shape.nEmbd()));
                    Targets t = Targets.of(m, b.targets());
                    loss += Ops.crossEntropy(logits, t.safe(), t.mask(), t.counted()).getFloat();
                    float[] l = logits.toFloatArray();
                    int v = (int) logits.getShape().get(1);
                    for (int p = 0; p < b.targets().length; p++) {
                        if (b.targets()[p] < 0) {
                            continue;
                        }
                        int best = 0;
                        for (int j = 1; j < v; j++) {
                            best = l[p * v + j] > l[p * v + best] ? j : best;
                        }
                        masked++;
                        right += best == b.targets()[p] ? 1 : 0;
                    }
                }
            }
        }
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("val_loss", loss / batches);
        rec.put("mlm_accuracy", masked == 0 ? Double.NaN : (double) right / masked);
        return rec;
    }
}
