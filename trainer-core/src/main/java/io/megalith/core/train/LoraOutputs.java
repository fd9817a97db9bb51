package io.megalith.core.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.Safetensors;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TrainingData;
import io.megalith.core.finetune.ModelFiles;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * What a LoRA run leaves in its run.dir besides the checkpoints: {@value #ADAPTERS_FILE} (the adapters alone, with
 * rank / alpha / targets metadata, to apply to the base later) and {@value #MERGED_FILE} (a plain GPT state dict with
 * the adapters folded in). Both come from the final checkpoint's full tensors, so any layout (DP, TP, PP, ZeRO) that
 * saved them gives the same files.
 */
public final class LoraOutputs {
    public static final String ADAPTERS_FILE = "adapters.safetensors";
    public static final String MERGED_FILE = "merged.safetensors";
    /** Metadata of the adapters file: max |logit difference| of merged vs base + adapters on a validation batch. */
    public static final String MERGED_DIFF = "megalith.merged_max_logit_diff";

    private LoraOutputs() {}

    /** Writes both files from the latest checkpoint of run.dir; returns max |logit difference| of merged vs adapters. */
    public static double write(MegalithConfig cfg, Configuration hadoop, CheckpointStore checkpoints, GptConfig shape,
            TrainingData data, NDManager manager, PrintStream console) throws IOException {
        LoadedCheckpoint last = checkpoints.loadLatest().orElseThrow(
                () -> new IOException("no complete checkpoint in " + cfg.run().dir() + " to take the adapters from"));
        Map<String, HostTensor> state = last.tensorFiles().get(TrainingRun.MODEL_FILE);
        LoraConfig lora = cfg.finetune().loraConfig();
        RunDirFs dir = RunDirFs.of(cfg.run().dir(), hadoop);
        Map<String, HostTensor> adapters = Lora.adapterState(state);
        Map<String, HostTensor> merged = Lora.merged(state, lora.scale());
        double diff = maxLogitDiff(shape, lora, state, merged, data.validation(0, 4), manager);
        Map<String, String> meta = new java.util.LinkedHashMap<>(ModelFiles.adapterMetadata(lora));
        meta.put(MERGED_DIFF, Double.toString(diff)); // for the driver's report: ranks' consoles are not shown
        meta.put("megalith.step", Long.toString(last.step()));
        dir.writeAtomically(MERGED_FILE, safetensors(merged, shapeMetadata(shape)));
        dir.writeAtomically(ADAPTERS_FILE, safetensors(adapters, meta));
        org.slf4j.LoggerFactory.getLogger(LoraOutputs.class).info("{} and {} written from step {}; max |logit diff| "
                + "merged vs base + adapters {}", ADAPTERS_FILE, MERGED_FILE, last.step(), diff);
        console.printf("megalith: wrote %s/%s (%d adapter tensors) and %s (adapters merged) from step %d; merged vs "
                + "base + adapters: max |logit diff| %.2e%n", cfg.run().dir(), ADAPTERS_FILE, adapters.size(),
                MERGED_FILE, last.step(), diff);
        return diff;
    }

    /** A GPT's shape in the metadata of a model file ({@code gpt.n_head}, ...): the file says what it holds. */
    public static Map<String, String> shapeMetadata(GptConfig c) {
        Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("gpt.n_head", Integer.toString(c.nHead()));
        m.put("gpt.n_layer", Integer.toString(c.nLayer()));
        m.put("gpt.n_embd", Integer.toString(c.nEmbd()));
        m.put("gpt.block_size", Integer.toString(c.blockSize()));
        m.put("gpt.vocab_size", Integer.toString(c.vocabSize()));
        return m;
    }

    /** The metadata of run.dir's adapters file (empty if there is none), e.g. {@link #MERGED_DIFF}. */
    public static Map<String, String> adapterMetadata(String runDir, Configuration hadoop) throws IOException {
        RunDirFs dir = RunDirFs.of(runDir, hadoop);
        if (!dir.exists(ADAPTERS_FILE)) {
            return Map.of();
        }
        byte[] bytes = dir.read(ADAPTERS_FILE);
        Map<String, String> meta = Safetensors.read(new java.io.ByteArrayInputStream(bytes), bytes.length).metadata();
        return meta == null ? Map.of() : meta;
    }

    private static byte[] safetensors(Map<String, HostTensor> tensors, Map<String, String> meta) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Safetensors.write(out, tensors, meta);
        return out.toByteArray();
    }

    /** The largest difference of the logits of base + adapters and of the merged plain GPT on {@code batch}. */
    static double maxLogitDiff(GptConfig shape, LoraConfig lora, Map<String, HostTensor> state,
            Map<String, HostTensor> merged, Batch batch, NDManager manager) {
        float[] a = logits(new Gpt(shape, lora), state, batch, manager);
        float[] b = logits(new Gpt(shape), merged, batch, manager);
        double w = 0;
        for (int i = 0; i < a.length; i++) {
            w = Math.max(w, Math.abs(a[i] - b[i]));
        }
        return w;
    }

    private static float[] logits(Gpt model, Map<String, HostTensor> state, Batch batch, NDManager manager) {
        JniUtils.setGradMode(false);
        try (ParameterStore store = new ParameterStore(model, manager, 0)) {
            store.load(state);
            model.initConstants(store.manager());
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                return model.logits(Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen()),
                        ForwardContext.inference(m)).toFloatArray();
            }
        }
    }
}
