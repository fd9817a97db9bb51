package io.megalith.core.family.seq2seq;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.model.seq2seq.Seq2SeqTraining;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Held-out evaluation of an encoder-decoder run ({@link Seq2SeqRun}), on the leader, of a one-rank copy of the
 * gathered parameters (the tensor-parallel model's forward is the training segments, which need every rank):
 * teacher-forced {@code val_loss} on the first (up to) 100 held-out examples and greedy {@code exact_match} on
 * {@code data.eval_pairs} of them.
 */
public final class Seq2SeqEvaluation {
    private Seq2SeqEvaluation() {}

    public static Map<String, Object> of(Seq2SeqConfig shape, Seq2SeqTask task, int evalPairs,
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
}
