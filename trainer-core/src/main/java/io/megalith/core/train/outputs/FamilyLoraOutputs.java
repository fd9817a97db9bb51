package io.megalith.core.train.outputs;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.finetune.ClassificationData;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The model outputs that check a {@link io.megalith.core.train.FamilyTrainingRun}'s LoRA files ({@link LoraOutputs}): a
 * one-rank model built from full tensors, with adapters (base + adapters) or without (the merged state dict), on one
 * validation batch. BERT classification: class logits; BERT masked LM: MLM logits; encoder-decoder: teacher-forced
 * decoder logits.
 */
public final class FamilyLoraOutputs {
    private FamilyLoraOutputs() {}

    /** The files' {@link LoraOutputs#FAMILY} and {@link LoraOutputs#MODEL} (the shape the checkpoints record). */
    public static Map<String, String> metadata(String family, String shape) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(LoraOutputs.FAMILY, family);
        m.put(LoraOutputs.MODEL, shape);
        return m;
    }

    /** Class logits [B, labels] of a {@link SequenceClassifier} of {@code adapted}'s shape. */
    public static LoraOutputs.Outputs classifier(BertConfig adapted, int labels, ClassificationData.Batch b,
            NDManager manager) {
        return (state, merged) -> {
            SequenceClassifier model = new SequenceClassifier(merged ? adapted.withLora(LoraConfig.NONE) : adapted, labels);
            return run(model, state, manager, ctx -> model.logits(b.ids(), b.segments(), b.batch(), b.seqLen(), ctx));
        };
    }

    /** Masked-LM logits [B*T, V] of a {@link Bert} of {@code adapted}'s shape. */
    public static LoraOutputs.Outputs bertMlm(BertConfig adapted, MlmBatch b, NDManager manager) {
        return (state, merged) -> {
            Bert model = new Bert(merged ? adapted.withLora(LoraConfig.NONE) : adapted);
            return run(model, state, manager, ctx -> {
                NDManager m = ctx.manager();
                PtNDArray h = model.encode(Ops.longs(m, b.inputs(), b.batch(), b.seqLen()), null,
                        model.paddingBias(m, b.inputs(), b.batch(), b.seqLen()), ctx);
                return model.mlmLogits(Ops.reshape(h, -1, adapted.nEmbd()));
            });
        };
    }

    /** Teacher-forced decoder logits [B, T, V] of an {@link EncoderDecoder} of {@code adapted}'s shape. */
    public static LoraOutputs.Outputs seq2seq(Seq2SeqConfig adapted, Seq2SeqTask.Batch b, NDManager manager) {
        return (state, merged) -> {
            EncoderDecoder model = new EncoderDecoder(merged ? adapted.withLora(LoraConfig.NONE) : adapted);
            return run(model, state, manager, ctx -> {
                NDManager m = ctx.manager();
                PtNDArray bias = model.sourceBias(m, b.src(), b.batch(), b.srcLen());
                PtNDArray memory = model.encode(Ops.longs(m, b.src(), b.batch(), b.srcLen()), bias, ctx);
                return model.decode(Ops.longs(m, b.tgtIn(), b.batch(), b.tgtLen()), memory, bias, ctx, null);
            });
        };
    }

    private static float[] run(Module model, Map<String, HostTensor> state, NDManager manager,
            Function<ForwardContext, PtNDArray> forward) {
        JniUtils.setGradMode(false);
        try (ParameterStore store = new ParameterStore(model, manager, 0)) {
            store.load(state);
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                return forward.apply(ForwardContext.inference(m)).toFloatArray();
            }
        }
    }
}
