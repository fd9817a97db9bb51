package io.megalith.core.train.outputs;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.data.Batch;
import io.megalith.core.finetune.ClassificationData;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
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
import java.util.function.Predicate;

/**
 * The model-specific half of a LoRA run's files, which {@link LoraOutputs#write} writes the same way for every family:
 * the metadata saying which model the files hold, the tensors besides the adapters that trained (a BERT classifier's
 * new head and pooler), and the model's outputs on one fixed validation batch from a full state dict, with adapters
 * (base + adapters) or without (the merged state dict), whose max difference checks the merge. Each model is built as
 * one rank from full tensors: the GPT (logits), a BERT classifier (class logits), BERT masked LM (MLM logits), the
 * encoder-decoder (teacher-forced decoder logits).
 *
 * @param metadata what both files say they hold
 * @param alsoTrained which tensors besides the adapters go into the adapters file
 * @param outputs the model's outputs on the run's fixed batch
 */
public record LoraCheck(Map<String, String> metadata, Predicate<String> alsoTrained, Outputs outputs) {
    /** A model's outputs on a fixed validation batch from a full state dict: of base + adapters, or of the merged plain model. */
    public interface Outputs {
        float[] of(Map<String, HostTensor> state, boolean merged);
    }

    /** The GPT's: its shape as {@code gpt.*} metadata, only the adapters train, logits [B, T, V] on {@code batch}. */
    public static LoraCheck gpt(GptConfig shape, LoraConfig lora, Batch batch, NDManager manager) {
        return new LoraCheck(shapeMetadata(shape), name -> false, gptLogits(shape, lora, batch, manager));
    }

    /**
     * Another family's: {@link LoraOutputs#FAMILY} and {@link LoraOutputs#MODEL} metadata (the model.family and the
     * shape its checkpoints record), {@code alsoTrained} the parameters that trained.
     */
    public static LoraCheck of(String family, String shape, Predicate<String> alsoTrained, Outputs outputs) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(LoraOutputs.FAMILY, family);
        m.put(LoraOutputs.MODEL, shape);
        return new LoraCheck(m, alsoTrained, outputs);
    }

    /** A GPT's shape in the metadata of a model file ({@code gpt.n_head}, ...): the file says what it holds. */
    public static Map<String, String> shapeMetadata(GptConfig c) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("gpt.n_head", Integer.toString(c.nHead()));
        m.put("gpt.n_layer", Integer.toString(c.nLayer()));
        m.put("gpt.n_embd", Integer.toString(c.nEmbd()));
        m.put("gpt.block_size", Integer.toString(c.blockSize()));
        m.put("gpt.vocab_size", Integer.toString(c.vocabSize()));
        return m;
    }

    /** The largest difference of the logits of base + adapters and of the merged plain GPT on {@code batch}. */
    public static double maxLogitDiff(GptConfig shape, LoraConfig lora, Map<String, HostTensor> state,
            Map<String, HostTensor> merged, Batch batch, NDManager manager) {
        Outputs logits = gptLogits(shape, lora, batch, manager);
        return LoraOutputs.maxDiff(logits.of(state, false), logits.of(merged, true));
    }

    /** Logits [B, T, V] of a GPT of {@code shape}: with {@code lora}'s adapters, or plain for the merged state. */
    static Outputs gptLogits(GptConfig shape, LoraConfig lora, Batch batch, NDManager manager) {
        return (state, merged) -> {
            Gpt model = merged ? new Gpt(shape) : new Gpt(shape, lora);
            JniUtils.setGradMode(false);
            try (ParameterStore store = new ParameterStore(model, manager, 0)) {
                store.load(state);
                model.initConstants(store.manager());
                try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                    return model.logits(Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen()),
                            ForwardContext.inference(m)).toFloatArray();
                }
            }
        };
    }

    /** Class logits [B, labels] of a {@link SequenceClassifier} of {@code adapted}'s shape. */
    public static Outputs classifier(BertConfig adapted, int labels, ClassificationData.Batch b, NDManager manager) {
        return (state, merged) -> {
            SequenceClassifier model = new SequenceClassifier(merged ? adapted.withLora(LoraConfig.NONE) : adapted, labels);
            return run(model, state, manager, ctx -> model.logits(b.ids(), b.segments(), b.batch(), b.seqLen(), ctx));
        };
    }

    /** Masked-LM logits [B*T, V] of a {@link Bert} of {@code adapted}'s shape. */
    public static Outputs bertMlm(BertConfig adapted, MlmBatch b, NDManager manager) {
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
    public static Outputs seq2seq(Seq2SeqConfig adapted, Seq2SeqTask.Batch b, NDManager manager) {
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
