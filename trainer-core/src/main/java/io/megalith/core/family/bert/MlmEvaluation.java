package io.megalith.core.family.bert;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Targets;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Held-out masked-LM evaluation of a BERT pre-training run ({@link BertRun}), on the leader, of a one-rank copy of
 * the gathered parameters (the tensor-parallel model's forward is the training segments, which need every rank):
 * {@code val_loss} (mean of the batches' losses) and {@code mlm_accuracy} (argmax = original token, over every
 * masked position) of {@code train.eval_batches} validation batches.
 */
public final class MlmEvaluation {
    private MlmEvaluation() {}

    public static Map<String, Object> of(BertConfig shape, IntFunction<MlmBatch> validation, int batches,
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
