package io.megalith.core.train.outputs;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.Safetensors;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.finetune.ModelFiles;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.tensor.HostTensor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.LoggerFactory;

/**
 * What a LoRA run leaves in its run.dir besides the checkpoints: {@value #ADAPTERS_FILE} (the adapters, with
 * rank / alpha / targets metadata, to apply to the base later, plus every other tensor that trained, named in
 * {@value #ALSO_TRAINED}: a BERT classifier's new head and pooler) and {@value #MERGED_FILE} (the full model without
 * adapters, their {@code scale * B A} folded into the base weights: it loads into the model built without LoRA).
 * Both come from the final checkpoint's full tensors, so any layout (DP, TP, PP, ZeRO) that saved them gives the same
 * files. One path for every family: what is the model's own (the files' metadata, which tensors besides the adapters
 * trained, the model that checks the merge) is its {@link LoraCheck}. The GPT's files carry {@code gpt.*} shape
 * metadata; the other families' {@value #FAMILY} and {@value #MODEL}.
 */
public final class LoraOutputs {
    public static final String ADAPTERS_FILE = "adapters.safetensors";
    public static final String MERGED_FILE = "merged.safetensors";
    /** Metadata of the adapters file: max |output difference| of merged vs base + adapters on a validation batch. */
    public static final String MERGED_DIFF = "megalith.merged_max_logit_diff";
    /** Metadata of the adapters file: the tensors in it besides the adapters (comma-separated; absent if none). */
    public static final String ALSO_TRAINED = "megalith.also_trained";
    /** Metadata of both files (not the GPT's): the model family and its shape, as the checkpoints' training state. */
    public static final String FAMILY = "megalith.family";
    public static final String MODEL = "megalith.model";

    private LoraOutputs() {}

    /**
     * Writes both files from the latest checkpoint of run.dir (the leader, after the last one is committed), for every
     * family: the adapters and the tensors {@code check} says also trained, its metadata in both files, and the max
     * |difference| of its outputs of merged vs base + adapters in the adapters file's {@value #MERGED_DIFF}, which it
     * returns.
     */
    public static double write(MegalithConfig cfg, Configuration hadoop, CheckpointStore checkpoints, LoraCheck check,
            PrintStream console) throws IOException {
        Map<String, String> modelMetadata = check.metadata();
        LoadedCheckpoint last = checkpoints.loadLatest().orElseThrow(
                () -> new IOException("no complete checkpoint in " + cfg.run().dir() + " to take the adapters from"));
        Map<String, HostTensor> state = last.tensorFiles().get(ShardedCheckpointer.MODEL);
        LoraConfig lora = cfg.finetune().loraConfig();
        RunDirFs dir = RunDirFs.of(cfg.run().dir(), hadoop);
        Map<String, HostTensor> adapters = new LinkedHashMap<>(Lora.adapterState(state));
        List<String> also = new ArrayList<>();
        state.forEach((k, v) -> {
            if (!Lora.isAdapter(k) && check.alsoTrained().test(k)) {
                adapters.put(k, v);
                also.add(k);
            }
        });
        Map<String, HostTensor> merged = Lora.merged(state, lora.scale());
        double diff = maxDiff(check.outputs().of(state, false), check.outputs().of(merged, true));
        Map<String, String> meta = new LinkedHashMap<>(ModelFiles.adapterMetadata(lora));
        meta.put(MERGED_DIFF, Double.toString(diff)); // for the driver's report: ranks' consoles are not shown
        meta.put("megalith.step", Long.toString(last.step()));
        if (!also.isEmpty()) {
            meta.put(ALSO_TRAINED, String.join(",", also));
        }
        meta.putAll(modelMetadata);
        dir.writeAtomically(MERGED_FILE, safetensors(merged, modelMetadata));
        dir.writeAtomically(ADAPTERS_FILE, safetensors(adapters, meta));
        LoggerFactory.getLogger(LoraOutputs.class).info("{} and {} written from step {}; max |output diff| "
                + "merged vs base + adapters {}", ADAPTERS_FILE, MERGED_FILE, last.step(), diff);
        console.printf("megalith: wrote %s/%s (%d adapter tensors%s) and %s (adapters merged) from step %d; merged vs "
                + "base + adapters: max |logit diff| %.2e%n", cfg.run().dir(), ADAPTERS_FILE, adapters.size() - also.size(),
                also.isEmpty() ? "" : " + " + also.size() + " other trained", MERGED_FILE, last.step(), diff);
        return diff;
    }

    /** The largest |a[i] - b[i]|. */
    static double maxDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalStateException("outputs of " + a.length + " and " + b.length + " values");
        }
        double w = 0;
        for (int i = 0; i < a.length; i++) {
            w = Math.max(w, Math.abs(a[i] - b[i]));
        }
        return w;
    }

    /** The metadata of run.dir's adapters file (empty if there is none), e.g. {@link #MERGED_DIFF}. */
    public static Map<String, String> adapterMetadata(String runDir, Configuration hadoop) throws IOException {
        RunDirFs dir = RunDirFs.of(runDir, hadoop);
        if (!dir.exists(ADAPTERS_FILE)) {
            return Map.of();
        }
        byte[] bytes = dir.read(ADAPTERS_FILE);
        Map<String, String> meta = Safetensors.read(new ByteArrayInputStream(bytes), bytes.length).metadata();
        return meta == null ? Map.of() : meta;
    }

    private static byte[] safetensors(Map<String, HostTensor> tensors, Map<String, String> meta) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Safetensors.write(out, tensors, meta);
        return out.toByteArray();
    }
}
